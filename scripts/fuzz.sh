#!/usr/bin/env bash
# Fuzz one parser (or all) with libFuzzer and AddressSanitizer for a bounded time.
#
#   scripts/fuzz.sh TARGET SECONDS     TARGET: runbook, alertmanager, grafana, json, matcher, expression, regex, all
#
# Seeds come from runbooks/, examples/, the broken-runbook fixtures, ../shared/fixtures/alerts/ and the
# regression inputs in Tests/MedicCoreTests/Fixtures/fuzz/. The growing corpus lives in .build-fuzz/corpus/.
# A crash leaves its input in .build-fuzz/artifacts/ and exits non-zero; to keep it as a regression test,
# copy it to Tests/MedicCoreTests/Fixtures/fuzz/TARGET/ (FuzzRegressionTests replays every file there), and
# reproduce it without the sanitizer with: MEDIC_FUZZ_TARGET=TARGET swift run medic-fuzz FILE
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(runbook alertmanager grafana json matcher expression regex)
target="${1:-}"
seconds="${2:-}"
if [[ -z "$target" || -z "$seconds" || ! "$seconds" =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh TARGET SECONDS   (TARGET: ${targets[*]} all)" >&2
  exit 2
fi
if [[ "$target" != all && ! " ${targets[*]} " =~ " $target " ]]; then
  echo "fuzz.sh: unknown target '$target'; use one of: ${targets[*]} all" >&2
  exit 2
fi

scratch=.build-fuzz
echo "fuzz.sh: building medic-fuzz with -sanitize=fuzzer,address in $scratch" >&2
swift build --product medic-fuzz --scratch-path "$scratch" \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DMEDIC_FUZZ -Xcc -DMEDIC_FUZZ >&2
binary="$scratch/debug/medic-fuzz"

shared=../shared/fixtures/alerts
seed() {
  local name="$1" dir="$scratch/seeds/$1"
  rm -rf "$dir"
  mkdir -p "$dir"
  case "$name" in
    runbook)
      # Same base names in different folders: keep them all.
      i=0; for f in runbooks/*.yaml examples/*.yaml Tests/MedicCoreTests/Fixtures/broken/*.yaml; do
        [[ -f "$f" ]] && cp "$f" "$dir/seed-$((i++)).yaml"
      done ;;
    alertmanager|grafana|json)
      if [[ -d "$shared" ]]; then cp "$shared"/*.json "$dir/" 2>/dev/null || true; fi
      cp examples/alerts/*.json "$dir/" 2>/dev/null || true ;;
    matcher|expression)
      python3 - "$name" "$dir" runbooks/*.yaml examples/*.yaml <<'PY'
import sys, yaml, pathlib
kind, out, files = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3:]
seen = set()
for path in files:
    try:
        doc = yaml.load(open(path, encoding="utf-8"), Loader=yaml.BaseLoader)
    except Exception:
        continue
    if not isinstance(doc, dict):
        continue
    if kind == "matcher":
        for trigger in doc.get("triggers") or []:
            if isinstance(trigger, dict):
                for m in trigger.get("match") or []:
                    seen.add(m)
    else:
        for step in doc.get("steps") or []:
            if isinstance(step, dict) and isinstance(step.get("when"), str):
                seen.add(step["when"])
extra = {
    "matcher": ['alertname="Down"', 'severity=~"warning|critical"', 'job!~"test.*"', '{instance!=""}',
                '"weird name"="v\\"q\\\\"', 'env=prod'],
    "expression": ['params.count > 3 && alert.labels.severity == "critical"', 'not (steps.a.exit_code != 0)',
                   'params.host in ["a", "b"] || params.dry', 'steps.check.stdout contains "ok"'],
}[kind]
for i, text in enumerate(sorted(seen) + extra):
    (out / f"seed-{i}").write_text(text, encoding="utf-8")
PY
      ;;
    regex)
      # Patterns and inputs of Go's search vectors, as PATTERN NUL VALUE.
      python3 - "$dir" ../shared/fixtures/go-regexp/re2-search.txt <<'PY'
import ast, sys, pathlib
out, path = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
if not path.exists():
    sys.exit(0)
strings, mode, n = [], None, 0
for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
    if line in ("strings", "regexps"):
        mode = line
        if line == "strings":
            strings = []
        continue
    if not line.startswith('"'):
        continue
    try:
        text = ast.literal_eval(line)
    except Exception:
        continue
    if mode == "strings":
        strings.append(text)
    elif n < 400:
        for value in strings:
            (out / f"seed-{n}").write_bytes(text.encode("utf-8", "replace") + b"\0" + value.encode("utf-8", "replace"))
            n += 1
PY
      ;;
  esac
  if [[ -d "Tests/MedicCoreTests/Fixtures/fuzz/$name" ]]; then
    cp "Tests/MedicCoreTests/Fixtures/fuzz/$name"/* "$dir/" 2>/dev/null || true
  fi
}

run() {
  local name="$1"
  seed "$name"
  mkdir -p "$scratch/corpus/$name" "$scratch/artifacts"
  echo "fuzz.sh: $name for ${seconds}s ($(ls "$scratch/seeds/$name" | wc -l) seeds)" >&2
  # The Swift runtime's backtracer and ASan fight over a crash; let libFuzzer report it.
  if ! SWIFT_BACKTRACE=enable=no LSAN_OPTIONS="suppressions=$PWD/scripts/lsan-suppressions.txt" \
      MEDIC_FUZZ_TARGET="$name" "$binary" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$scratch/artifacts/$name-" "$scratch/corpus/$name" "$scratch/seeds/$name" \
      >"$scratch/$name.log" 2>&1; then
    tail -n 40 "$scratch/$name.log" >&2
    echo "fuzz.sh: $name found a crash: $(ls -t "$scratch/artifacts/$name-"* | head -1)" >&2
    echo "  keep it: cp FILE Tests/MedicCoreTests/Fixtures/fuzz/$name/; reproduce: MEDIC_FUZZ_TARGET=$name swift run medic-fuzz FILE" >&2
    return 1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$scratch/$name.log" | tr '\n' ' ' | sed "s/^/fuzz.sh: $name ok: /" >&2
  echo >&2
}

status=0
if [[ "$target" == all ]]; then
  for name in "${targets[@]}"; do run "$name" || status=1; done
else
  run "$target" || status=1
fi
exit $status
