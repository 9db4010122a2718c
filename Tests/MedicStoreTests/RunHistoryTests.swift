import Foundation
import MedicCore
import MedicStore
import Testing

/// The `RunHistory` seam: the SQLite audit log and the in-memory conformer answer every filter alike.
@Suite struct RunHistoryTests {
    static let filters: [RunFilter] = [
        RunFilter(), RunFilter(limit: 2), RunFilter(runbook: "disk"), RunFilter(outcome: "failed"),
        RunFilter(outcome: "running"), RunFilter(alertname: "Down"), RunFilter(initiator: "operator"),
        RunFilter(initiator: "operator:alice"), RunFilter(since: "2027-01-15T08:00:01.000Z"),
        RunFilter(until: "2027-01-15T08:00:02.000Z"), RunFilter(runbook: "disk", outcome: "succeeded", limit: 1),
    ]

    /// Six runs: two runbooks, alert and operator initiators, finished and running.
    static func filled() async throws -> SQLiteAuditLog {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("medic-history-\(UUID()).db").path
        let log = try SQLiteAuditLog(path: path)
        let initiators = ["alert", "operator:alice", "operator:bob", "api"]
        for index in 0..<6 {
            let start = Date(timeIntervalSince1970: 1_800_000_000 + Double(index))
            var started: [String: JSONValue] = [
                "runbook": .string(index % 2 == 0 ? "disk" : "restart"),
                "initiator": .string(initiators[index % initiators.count]),
            ]
            if index % 4 == 0 {
                started["alert"] = [
                    "labels": ["alertname": "Down"], "fingerprint": .string("f\(index)"), "status": "firing",
                ]
            }
            try await log.append(AuditEvent(time: start, kind: .runStarted, runID: "run-\(index)", body: started))
            guard index < 5 else { continue }
            try await log.append(
                AuditEvent(
                    time: start.addingTimeInterval(0.5), kind: .runFinished, runID: "run-\(index)",
                    body: ["outcome": .string(index == 3 ? "failed" : "succeeded")]))
        }
        return log
    }

    @Test("the in-memory history filters as the SQLite query does", arguments: filters)
    func sameAnswers(filter: RunFilter) async throws {
        let log = try await Self.filled()
        let memory = InMemoryRunHistory(summaries: try log.runs(RunFilter(limit: 100)))
        let stored = try await log.runs(matching: filter).map(\.id)
        #expect(try await memory.runs(matching: filter).map(\.id) == stored)
        #expect(!stored.isEmpty)
    }

    @Test("the SQLite history reads a run's summary and records off the caller's thread, as the sync reads do")
    func oneRun() async throws {
        let log = try await Self.filled()
        #expect(try await log.summary(ofRun: "run-3") == (try log.run(id: "run-3")))
        #expect(try await log.summary(ofRun: "run-3")?.outcome == "failed")
        #expect(try await log.records(ofRun: "run-3").map(\.kind) == ["run.started", "run.finished"])
        #expect(try await log.records(ofRun: "nope").isEmpty)
        #expect(try await log.summary(ofRun: "nope") == nil)
    }
}
