#!/usr/bin/env bash
# Medic's benchmark, one command: builds Medic in release mode, sets up the peers it is compared with,
# runs every benchmark and prints one table (figure, Medic, baseline, ratio); writes bench-results.json.
#
#   scripts/bench.sh            # everything (about 10 minutes after the build)
#   scripts/bench.sh --quick    # fewer repetitions and alerts, no Ansible peers (a smoke run)
#
# Peers that cannot be installed are skipped with a note in the table, never faked:
#   - wrk (Debian package) for the HTTP ceiling;
#   - ansible-core and ansible-rulebook (PyPI, into a venv under .build-bench/) for the Ansible rows;
#     ansible-rulebook needs Java 17 (JAVA_HOME or /usr/lib/jvm).
# Everything runs on 127.0.0.1; scratch files go to .build-bench/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
for argument in "$@"; do
  case "$argument" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument '$argument' (use --quick)" >&2; exit 2 ;;
  esac
done

work=.build-bench
mkdir -p "$work"

echo "bench.sh: building medic in release mode" >&2
swift build -c release --product medic >&2
# Steps start through the launcher next to medic (else medic re-executes itself, which is slower). It is plain C:
# built static with the system compiler it starts in a fraction of the time SwiftPM's build takes, which links
# the Swift runtime into it.
cc -O2 -static -I Sources/CMedicStepLauncher/include Sources/CMedicStepLauncher/launcher.c \
    Sources/medic-step-launcher/main.c -o .build/release/medic-step-launcher >&2
medic="$PWD/.build/release/medic"

# wrk: the HTTP ceiling for the intake figure.
if ! command -v wrk >/dev/null; then
  echo "bench.sh: installing wrk" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } >&2 || \
    echo "bench.sh: wrk could not be installed; the intake row is measured with Python's client only" >&2
fi

# Ansible peers, in a venv of their own.
venv="$work/venv"
if [[ $quick == 0 ]]; then
  if [[ ! -x "$venv/bin/ansible-playbook" || ! -x "$venv/bin/ansible-rulebook" ]]; then
    echo "bench.sh: installing ansible-core and ansible-rulebook into $venv" >&2
    { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet ansible-core ansible-rulebook; } >&2 || \
      echo "bench.sh: Ansible could not be installed; its rows are skipped" >&2
  fi
  if [[ -z "${JAVA_HOME:-}" ]]; then
    JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$(command -v java 2>/dev/null || echo /nonexistent)")")" 2>/dev/null || true)"
    export JAVA_HOME
  fi
fi

exec python3 scripts/bench.py --medic "$medic" --work "$work" --venv "$venv" $([[ $quick == 1 ]] && echo --quick)
