import Foundation
import MedicCore
import MedicStore

/// `medic bench audit`: append throughput (one record per transaction, and batched), and query latency at scale.
public struct AuditBenchmark: Sendable {
    /// Records to append in each of the single and batched passes.
    public var records: Int
    /// Records per transaction on the batched path.
    public var batch: Int
    /// Size of the log on which list/show/stats are timed (0 skips).
    public var queryRecords: Int
    /// Durability of the scratch log.
    public var durability: SQLiteAuditLog.Durability
    /// One JSON object instead of a table.
    public var json: Bool

    public init(records: Int, batch: Int, queryRecords: Int, durability: SQLiteAuditLog.Durability, json: Bool) {
        self.records = records
        self.batch = batch
        self.queryRecords = queryRecords
        self.durability = durability
        self.json = json
    }

    static func event(_ index: Int, runs: Int) -> AuditEvent {
        let run = "bench-run-\(index / 10)"
        let kind: AuditKind = index % 10 == 0 ? .runStarted : (index % 10 == 9 ? .runFinished : .attemptFinished)
        var body: [String: JSONValue] = [
            "step": .string("step-\(index % 10)"), "exit_code": 0, "stdout": .string("output line \(index)\n"),
            "duration_ms": JSONValue(index % 1000),
        ]
        if kind == .runStarted {
            body = [
                "runbook": .string("runbook-\(index / 10 % runs)"), "initiator": "alert",
                "alert": [
                    "fingerprint": .string(String(index, radix: 16)),
                    "labels": ["alertname": .string("Alert\(index % 7)")],
                ],
            ]
        } else if kind == .runFinished {
            body = ["outcome": .string(index % 30 == 29 ? "failed" : "succeeded")]
        }
        return AuditEvent(
            time: Date(timeIntervalSince1970: 1_800_000_000 + Double(index) / 10), kind: kind, runID: run, body: body)
    }

    public func run() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("medic-audit-bench-\(getpid())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }

        let single = try SQLiteAuditLog(path: scratch.appendingPathComponent("single.db").path, durability: durability)
        var start = ContinuousClock.now
        for index in 0..<records { try await single.append(Self.event(index, runs: 50)) }
        let singleSeconds = BenchClock.seconds(ContinuousClock.now - start)

        let batched = try SQLiteAuditLog(
            path: scratch.appendingPathComponent("batched.db").path, durability: durability)
        start = ContinuousClock.now
        var index = 0
        while index < records {
            let end = min(records, index + batch)
            try await batched.append(batch: (index..<end).map { Self.event($0, runs: 50) })
            index = end
        }
        let batchedSeconds = BenchClock.seconds(ContinuousClock.now - start)
        if json {
            print(
                #"{"benchmark":"audit","records":\#(records),"batch":\#(batch),"single_records_per_second":\#(Double(records) / singleSeconds),"batched_records_per_second":\#(Double(records) / batchedSeconds)}"#
            )
            return
        }
        print("figure                                           value")
        print(
            String(
                format: "append, one record per transaction (%@)     %9.0f records/s", durability.rawValue,
                Double(records) / singleSeconds))
        print(
            String(
                format: "append, %4d records per transaction (%@)   %9.0f records/s", batch, durability.rawValue,
                Double(records) / batchedSeconds))
        start = ContinuousClock.now
        let verification = try batched.verify()
        print(
            String(
                format: "verify %d records                          %9.0f records/s", verification.records,
                Double(verification.records) / BenchClock.seconds(ContinuousClock.now - start)))

        guard queryRecords > 0 else { return }
        let large = try SQLiteAuditLog(path: scratch.appendingPathComponent("large.db").path, durability: .normal)
        index = 0
        while index < queryRecords {
            let end = min(queryRecords, index + 10_000)
            try await large.append(batch: (index..<end).map { Self.event($0, runs: 50) })
            index = end
        }
        func timed(_ label: String, _ body: () throws -> Void) rethrows {
            let start = ContinuousClock.now
            try body()
            let milliseconds = BenchClock.seconds(ContinuousClock.now - start) * 1000
            print(
                String(
                    format: "%@ %8.1f ms  (target < 100 ms)", label.padding(toLength: 48, withPad: " ", startingAt: 0),
                    milliseconds))
        }
        try timed("audit list (50 newest) at \(queryRecords) records") { _ = try large.runs(.init(limit: 50)) }
        try timed("audit list --runbook --outcome failed") {
            _ = try large.runs(.init(runbook: "runbook-7", outcome: "failed"))
        }
        try timed("audit show (one run)") { _ = try large.records(run: "bench-run-\(queryRecords / 20)") }
        try timed("audit stats") { _ = try large.stats(since: nil) }
    }
}
