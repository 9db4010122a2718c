#!/usr/bin/env bash
# Writes previous-release.db with a `medic` binary built from an earlier main, so that a later Medic can be
# tested against a log it did not write (SQLiteAuditLogCompatibilityTests). Usage:
#   make-previous-release-db.sh PATH/TO/OLD/medic OUTPUT.db
# The log holds an operator run with a failure and a rollback, alerts received by `medic serve` (decisions:
# run, shadowed, awaiting_approval, suppressed as a duplicate; a run that executed; a resolved alert that
# cancels the waiting one), a breaker reset, and runs closed as interrupted.
set -euo pipefail
medic=$(realpath "$1")
out=$(realpath -m "$2")
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
rm -f "$out" "$out"-wal "$out"-shm "$out".lock
mkdir -p "$work/runbooks"
cat > "$work/op.yaml" <<'YAML'
runbook: op-fix
params:
  name: { type: string, default: world }
steps:
  - id: touch
    run: [echo, 'touch {{ params.name }}']
    timeout: 5s
    rollback: { run: [echo, undo], timeout: 5s }
  - id: fail
    run: [sh, -c, 'echo failing >&2; exit 3']
    timeout: 5s
    retry: { attempts: 2, delay: 10ms }
YAML
for id in fix quiet careful; do
  mode=autonomous; [[ $id == quiet ]] && mode=shadow; [[ $id == careful ]] && mode=approval
  cat > "$work/runbooks/$id.yaml" <<YAML
runbook: $id
params:
  host: { type: string, from: alert.labels.instance, pattern: '[a-z0-9]+' }
triggers:
  - match: ['alertname="Down"']
    group_by: [instance]
    cooldown: 10m
policy:
  mode: $mode
  concurrency: '$id:{{ params.host }}'
  circuit_breaker: { failures: 3, within: 1h }
steps:
  - id: fix
    run: [echo, 'fixing {{ params.host }}']
    timeout: 5s
YAML
done
"$medic" run "$work/op.yaml" --audit "$out" --param name=db1 >/dev/null 2>&1 || true
# A run whose Medic is killed: the next command that opens the log closes it as interrupted.
printf 'runbook: slow\nsteps:\n  - id: wait\n    run: [sleep, "3"]\n    timeout: 10s\n' > "$work/slow.yaml"
"$medic" run "$work/slow.yaml" --audit "$out" >/dev/null 2>&1 &
slow=$!
sleep 1.5
kill -9 "$slow"; wait "$slow" 2>/dev/null || true
port=$((20000 + RANDOM % 20000))
"$medic" serve --listen "127.0.0.1:$port" --runbooks "$work/runbooks" --audit "$out" --log-level error &
server=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
firing='{"alerts":[{"status":"firing","startsAt":"2026-11-28T10:00:00Z","labels":{"alertname":"Down","instance":"db1"}}]}'
curl -fs -XPOST "http://127.0.0.1:$port/v1/alerts/alertmanager" --data "$firing" >/dev/null
curl -fs -XPOST "http://127.0.0.1:$port/v1/alerts/alertmanager" --data "$firing" >/dev/null   # a duplicate
sleep 1
resolved='{"alerts":[{"status":"resolved","startsAt":"2026-11-28T10:00:00Z","labels":{"alertname":"Down","instance":"db1"}}]}'
curl -fs -XPOST "http://127.0.0.1:$port/v1/alerts/alertmanager" --data "$resolved" >/dev/null
kill -TERM "$server"; wait "$server" || true
"$medic" breaker reset fix instance=db1 --audit "$out" >/dev/null
"$medic" audit verify --audit "$out"
rm -f "$out"-wal "$out"-shm "$out".lock
