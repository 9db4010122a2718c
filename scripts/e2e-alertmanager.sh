#!/usr/bin/env bash
# End to end with a real Alertmanager (Debian's prometheus-alertmanager), all on 127.0.0.1:
# an alert posted to Alertmanager's API reaches medic serve through a webhook with a bearer token,
# the matching runbook runs (a file appears), the run is audited, and the resolved notification is
# recorded against it. Every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

ALERTMANAGER=$(command -v prometheus-alertmanager || command -v alertmanager || true)
if [ -z "$ALERTMANAGER" ]; then
    echo "e2e: prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)" >&2
    exit 1
fi
MEDIC=${MEDIC:-.build/debug/medic}
[ -x "$MEDIC" ] || swift build --product medic
work=$(mktemp -d /tmp/medic-e2e.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
MEDIC_PORT=$(free_port)
AM_PORT=$(free_port)
CLUSTER_PORT=$(free_port)

mkdir -p "$work/runbooks" "$work/am"
echo "e2e-$RANDOM-$RANDOM" > "$work/token"
cat > "$work/runbooks/e2e.yaml" <<YAML
runbook: e2e-fix
params:
  instance: { type: string, from: alert.labels.instance, pattern: '[a-z0-9.-]+' }
triggers:
  - match: ['alertname="MedicE2E"']
steps:
  - id: fix
    run: [sh, -c, 'echo "fixed \$1" > "$work/fixed"', fix, '{{ params.instance }}']
    timeout: 10s
YAML
# A runbook whose success counts only once its alert resolves; Alertmanager never tells Medic of this one's
# resolution (send_resolved: false below), so only asking Alertmanager's API can verify it.
cat > "$work/runbooks/e2e-verify.yaml" <<YAML
runbook: e2e-verify
triggers:
  - match: ['alertname="MedicE2EVerify"']
policy:
  silence: { for: 15m }
verify: { within: 2m }
steps:
  - id: fix
    run: [sh, -c, 'echo fixed > "$work/verify-fixed"']
    timeout: 10s
YAML
cat > "$work/runbooks/e2e-unfixed.yaml" <<YAML
runbook: e2e-unfixed
triggers:
  - match: ['alertname="MedicE2EUnfixed"']
policy:
  silence: { for: 15m }
  escalate: { alertmanager: true }
  circuit_breaker: { failures: 1, within: 1h }
verify:
  within: 3s
  probe: { run: ['false'], every: 1s, timeout: 5s }
steps:
  - id: try
    run: ['true']
    timeout: 10s
YAML
cat > "$work/am/alertmanager.yml" <<YAML
route:
  receiver: medic
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - receiver: medic-quiet
      matchers: ['alertname="MedicE2EVerify"']
    - receiver: nobody
      matchers: ['alertname="MedicEscalation"']
receivers:
  - name: nobody
  - name: medic-quiet
    webhook_configs:
      - url: http://127.0.0.1:$MEDIC_PORT/v1/alerts/alertmanager
        send_resolved: false
        http_config:
          authorization:
            credentials_file: $work/token
  - name: medic
    webhook_configs:
      - url: http://127.0.0.1:$MEDIC_PORT/v1/alerts/alertmanager
        send_resolved: true
        http_config:
          authorization:
            credentials_file: $work/token
YAML

"$MEDIC" serve --listen "127.0.0.1:$MEDIC_PORT" --runbooks "$work/runbooks" --audit "$work/audit.db" \
    --intake-token-file "$work/token" --alertmanager-url "http://127.0.0.1:$AM_PORT" > "$work/medic.log" 2>&1 &
pids+=($!)
"$ALERTMANAGER" --config.file="$work/am/alertmanager.yml" --storage.path="$work/am/data" \
    --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address="127.0.0.1:$CLUSTER_PORT" \
    > "$work/alertmanager.log" 2>&1 &
pids+=($!)

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
    local seconds=$1 what=$2
    shift 2
    for _ in $(seq 1 $((seconds * 5))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    echo "e2e: timed out after ${seconds}s waiting for $what" >&2
    echo "--- medic.log"; tail -20 "$work/medic.log" >&2
    echo "--- alertmanager.log"; tail -20 "$work/alertmanager.log" >&2
    return 1
}

wait_for 30 "medic to listen" curl -sf "http://127.0.0.1:$MEDIC_PORT/healthz"
wait_for 30 "alertmanager to listen" curl -sf "http://127.0.0.1:$AM_PORT/-/ready"

# Unauthenticated posts are refused, so the webhook's token is really what lets Alertmanager in.
status=$(curl -s -o /dev/null -w '%{http_code}' -XPOST "http://127.0.0.1:$MEDIC_PORT/v1/alerts/alertmanager" -d '{"alerts":[]}')
[ "$status" = 401 ] || { echo "e2e: expected 401 without a token, got $status" >&2; exit 1; }

starts=$(date -u +%Y-%m-%dT%H:%M:%SZ)
curl -sf -XPOST -H 'Content-Type: application/json' "http://127.0.0.1:$AM_PORT/api/v2/alerts" \
    -d "[{\"labels\":{\"alertname\":\"MedicE2E\",\"instance\":\"e2e-host\"},\"startsAt\":\"$starts\"}]" >/dev/null
wait_for 60 "the runbook's side effect" test -s "$work/fixed"
grep -qx "fixed e2e-host" "$work/fixed"

# Resolve it: Alertmanager sends the resolved notification, which Medic records against the run.
ends=$(date -u +%Y-%m-%dT%H:%M:%SZ)
curl -sf -XPOST -H 'Content-Type: application/json' "http://127.0.0.1:$AM_PORT/api/v2/alerts" \
    -d "[{\"labels\":{\"alertname\":\"MedicE2E\",\"instance\":\"e2e-host\"},\"startsAt\":\"$starts\",\"endsAt\":\"$ends\"}]" >/dev/null
resolved() { "$MEDIC" audit export --audit "$work/audit.db" --kind alert.resolved | grep -q '"run_id":"2'; }
wait_for 60 "the resolved notification to be recorded against the run" resolved

succeeded() { "$MEDIC" audit list --audit "$work/audit.db" --outcome succeeded --format json | grep -q e2e-fix; }
wait_for 30 "the run to be recorded as succeeded" succeeded
"$MEDIC" audit verify --audit "$work/audit.db"
# What Prometheus would scrape tells the same story.
metrics=$(curl -sf "http://127.0.0.1:$MEDIC_PORT/metrics")
for line in 'medic_runs_total{runbook="e2e-fix",outcome="succeeded"} 1' \
            'medic_alerts_received_total{source="alertmanager",status="resolved"}'; do
    grep -qF "$line" <<<"$metrics" || { echo "e2e: /metrics lacks: $line" >&2; echo "$metrics" >&2; exit 1; }
done

# Verified remediation through Alertmanager's API: the run is pending until the alert resolves there.
vstarts=$(date -u +%Y-%m-%dT%H:%M:%SZ)
curl -sf -XPOST -H 'Content-Type: application/json' "http://127.0.0.1:$AM_PORT/api/v2/alerts" \
    -d "[{\"labels\":{\"alertname\":\"MedicE2EVerify\",\"instance\":\"e2e-host\"},\"startsAt\":\"$vstarts\"}]" >/dev/null
wait_for 60 "the verify runbook's side effect" test -s "$work/verify-fixed"
pending() { "$MEDIC" audit list --audit "$work/audit.db" --verification pending --format json | grep -q e2e-verify; }
wait_for 30 "the run to be pending verification" pending
vends=$(date -u +%Y-%m-%dT%H:%M:%SZ)
curl -sf -XPOST -H 'Content-Type: application/json' "http://127.0.0.1:$AM_PORT/api/v2/alerts" \
    -d "[{\"labels\":{\"alertname\":\"MedicE2EVerify\",\"instance\":\"e2e-host\"},\"startsAt\":\"$vstarts\",\"endsAt\":\"$vends\"}]" >/dev/null
verified() { "$MEDIC" audit export --audit "$work/audit.db" --kind run.verified | grep -q '"resolved_via":"alertmanager_api"'; }
wait_for 60 "the run to be verified through Alertmanager's API" verified
"$MEDIC" audit export --audit "$work/audit.db" --kind run.verified | grep -q '"time_to_resolve_ms":[0-9]'
# The silence it held while it worked is expired now that the fix is proven.
vexpired() { "$MEDIC" audit export --audit "$work/audit.db" --kind silence.expired | grep -q 'its verification was decided'; }
wait_for 30 "the verified run's silence to be expired" vexpired
"$MEDIC" audit list --audit "$work/audit.db" --verification verified --format json | grep -q e2e-verify
"$MEDIC" audit verify --audit "$work/audit.db"
echo "e2e: Alertmanager -> medic serve -> runbook -> audit, resolved recorded; verified through the API: 2 passed, 0 failed"

# Paging held while a fix works, and the fix that does not fix: a runbook whose probe keeps failing. Its
# alert is silenced in Alertmanager while the run works; when the proof does not come the silence is expired
# at once and a MedicEscalation alert goes to Alertmanager with the original labels.
ustarts=$(date -u +%Y-%m-%dT%H:%M:%SZ)
curl -sf -XPOST -H 'Content-Type: application/json' "http://127.0.0.1:$AM_PORT/api/v2/alerts" \
    -d "[{\"labels\":{\"alertname\":\"MedicE2EUnfixed\",\"instance\":\"e2e-host\"},\"startsAt\":\"$ustarts\"}]" >/dev/null
# An active silence by Medic on this alert (Alertmanager lists expired ones too).
unfixed_silence() { curl -sf "http://127.0.0.1:$AM_PORT/api/v2/silences" | python3 -c 'import json,sys; sys.exit(0 if any(s["createdBy"]=="medic" and s["status"]["state"]==sys.argv[1] and any(m["value"]=="MedicE2EUnfixed" for m in s["matchers"]) for s in json.load(sys.stdin)) else 1)' "$1"; }
silenced() { unfixed_silence active; }
wait_for 60 "Medic's silence on the alert" silenced
unverified() { "$MEDIC" audit list --audit "$work/audit.db" --verification unverified --format json | grep -q e2e-unfixed; }
wait_for 60 "the run to end unverified" unverified
escalated() { curl -sf "http://127.0.0.1:$AM_PORT/api/v2/alerts?filter=alertname%3D%22MedicEscalation%22" | grep -q '"original_alertname":"MedicE2EUnfixed"'; }
wait_for 30 "the MedicEscalation alert in Alertmanager" escalated
expired() { unfixed_silence expired && ! unfixed_silence active; }
wait_for 30 "the silence to be expired" expired
# The unverified run counted for the breaker (failures: 1): it opened.
"$MEDIC" audit export --audit "$work/audit.db" --kind breaker.opened | grep -q e2e-unfixed
metrics=$(curl -sf "http://127.0.0.1:$MEDIC_PORT/metrics")
for line in 'medic_runs_verified_total{runbook="e2e-verify",result="verified"} 1' \
            'medic_runs_verified_total{runbook="e2e-unfixed",result="unverified"} 1' \
            'medic_escalations_total{runbook="e2e-unfixed",reason="unverified"} 1' \
            'medic_time_to_resolve_seconds_count{runbook="e2e-verify"} 1'; do
    grep -qF "$line" <<<"$metrics" || { echo "e2e: /metrics lacks: $line" >&2; echo "$metrics" | grep medic_ >&2; exit 1; }
done
"$MEDIC" audit verify --audit "$work/audit.db"
echo "e2e: silence while remediating, expired when the fix did not hold, MedicEscalation in Alertmanager: 3 passed, 0 failed"
