import Foundation
import MedicCore
import MedicStore
import Testing

/// `medic audit show`'s timeline, rendered from records.
@Suite struct AuditTimelineTests {
    static func record(_ seq: Int64, _ time: String, _ kind: String, _ body: String) -> AuditRecord {
        AuditRecord(seq: seq, time: time, kind: kind, runID: "run-1", body: body, prevHash: "", hash: "")
    }

    @Test("a run that failed and rolled back reads as a story, timed from its start")
    func failedRun() {
        let records = [
            Self.record(
                1, "2026-11-25T10:00:00.000Z", "run.started",
                #"{"alert":{"fingerprint":"abc","labels":{"alertname":"Down","instance":"db1"},"status":"firing"},"initiator":"alert","params":{"host":"db1"},"runbook":"restart"}"#
            ),
            Self.record(
                2, "2026-11-25T10:00:00.250Z", "attempt.started",
                #"{"argv":["systemctl","restart","my app"],"attempt":1,"phase":"main","step":"restart"}"#),
            Self.record(
                3, "2026-11-25T10:00:01.500Z", "attempt.finished",
                #"{"attempt":1,"duration_ms":1250,"exit_code":3,"phase":"main","stderr":"unit failed\n","step":"restart"}"#
            ),
            Self.record(
                4, "2026-11-25T10:00:01.600Z", "retry.scheduled",
                #"{"delay_ms":2000,"next_attempt":2,"step":"restart"}"#
            ),
            Self.record(5, "2026-11-25T10:00:04.000Z", "rollback.started", #"{"steps":["drain","stop"]}"#),
            Self.record(
                6, "2026-11-25T10:00:05.000Z", "run.finished", #"{"outcome":"failed","reason":"restart failed"}"#),
        ]
        #expect(
            AuditTimeline.text(records) == """
                run run-1 — runbook restart, started 2026-11-25T10:00:00.000Z by alert
                  params: host=db1
                  alert: Down (firing, fingerprint abc)
                    labels: alertname=Down instance=db1
                +   0.250s  ▶ restart attempt 1: systemctl restart 'my app'
                +   1.500s  ✘ restart attempt 1: exit 3 in 1250 ms
                            ! unit failed
                +   1.600s  ↻ restart attempt 2 in 2000 ms
                +   4.000s  ↺ rolling back: drain → stop
                +   5.000s  outcome: failed (restart failed)
                """)
    }

    @Test("a run without an end record says so; long output keeps its tail")
    func unfinished() {
        let output = (1...10).map { "line \($0)" }.joined(separator: "\\n")
        let text = AuditTimeline.text([
            Self.record(1, "2026-11-25T10:00:00.000Z", "run.started", #"{"initiator":"operator:alice","runbook":"x"}"#),
            Self.record(
                2, "2026-11-25T10:00:02.000Z", "attempt.finished",
                #"{"attempt":1,"duration_ms":5,"exit_code":0,"step":"probe","stdout":"\#(output)"}"#),
        ])
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines[1] == "+   2.000s  ✔ probe attempt 1: exit 0 in 5 ms")
        #expect(lines[2] == "            | … (2 more lines)")
        #expect(lines[3] == "            | line 3")
        #expect(lines.last == "(no end record yet: the run is still going, or its Medic was stopped)")
    }
}
