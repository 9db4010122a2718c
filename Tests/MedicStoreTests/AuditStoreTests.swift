import Foundation
import MedicCore
import MedicPostgres
import MedicStore
import MedicTestSupport
import Testing

/// Which store a test runs against: every behaviour here holds for both, through the same seam (`AuditStore`).
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres
    var testDescription: String { rawValue }
}

/// A fresh, empty store of one kind: a SQLite file in a temporary directory, or a new database in the test
/// process's private PostgreSQL cluster. `reopen()` opens the same store again (another process, another
/// replica); `tamper(_:)` changes it behind Medic's back, as someone with database access could.
struct StoreUnderTest: Sendable {
    let kind: StoreKind
    /// The cluster holding the database (PostgreSQL only).
    var server: PostgresServer? = nil
    /// The SQLite path or the PostgreSQL URL: what `--audit` takes.
    let address: String

    static func make(_ kind: StoreKind) async throws -> StoreUnderTest {
        switch kind {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appending(path: "medic-store-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            return StoreUnderTest(kind: kind, address: directory.appending(path: "audit.db").path)
        case .postgres:
            let server = try await PostgresServer.shared()
            return StoreUnderTest(kind: kind, server: server, address: try await server.makeDatabase())
        }
    }

    /// With PostgreSQL, `replica` names the writer (each opener another replica).
    func open(replica: String? = nil) async throws -> any AuditStore {
        switch kind {
        case .sqlite: try SQLiteAuditLog(path: address)
        // In this process the async runtime's threads are shared with every other suite, some of which block
        // them for seconds (synchronous child processes): a deadline of a few seconds would measure that, not
        // PostgreSQL. The server's own 5 s deadline is tested in its own process (ReplicaTests).
        case .postgres: try await PostgresAuditLog.open(url: address, commitLimit: .seconds(60), replica: replica)
        }
    }

    /// Runs SQL against the store with the trigger that guards records lifted, as an attacker would.
    func tamper(_ sql: String) async throws {
        try await PostgresServer.blocking { try self.tamperNow(sql) }
    }

    private func tamperNow(_ sql: String) throws {
        switch kind {
        case .sqlite:
            let process = Process()
            process.executableURL = URL(filePath: "/usr/bin/env")
            process.arguments = [
                "sqlite3", address,
                "DROP TRIGGER IF EXISTS audit_record_append_only_update; DROP TRIGGER IF EXISTS audit_record_append_only_delete; \(sql)",
            ]
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw StoreTestError("sqlite3 failed: \(sql)") }
        case .postgres:
            try server!.psql(
                "ALTER TABLE audit_record DISABLE TRIGGER USER; \(sql); ALTER TABLE audit_record ENABLE TRIGGER USER;",
                database: String(address.split(separator: "/").last!.split(separator: "?").first!))
        }
    }

    /// Runs SQL as is (the guards in place).
    func sql(_ sql: String) async throws {
        try await PostgresServer.blocking { try self.sqlNow(sql) }
    }

    private func sqlNow(_ sql: String) throws {
        switch kind {
        case .sqlite:
            let process = Process()
            process.executableURL = URL(filePath: "/usr/bin/env")
            process.arguments = ["sqlite3", address, sql]
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw StoreTestError("sqlite3 refused: \(sql)") }
        case .postgres:
            try server!.psql(
                sql, database: String(address.split(separator: "/").last!.split(separator: "?").first!))
        }
    }
}

struct StoreTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func event(_ index: Int, kind: AuditKind = .stepSkipped, run: String? = nil, at seconds: Double? = nil) -> AuditEvent {
    AuditEvent(
        time: Date(timeIntervalSince1970: seconds ?? (1_800_000_000 + Double(index))), kind: kind,
        runID: run ?? "r\(index % 3)",
        body: ["index": JSONValue(index), "text": .string("line \(index)\n\"quoted\" ü \u{08}")])
}

@Suite struct AuditStoreTests {
    @Test("appends chain and verify; head, count and one run's records read back", arguments: StoreKind.allCases)
    func chainAndRead(kind: StoreKind) async throws {
        let store = try await StoreUnderTest.make(kind).open()
        for index in 0..<20 { try await store.append(event(index)) }
        try await store.append(batch: (20..<30).map { event($0) })
        let result = try await store.verify(expectHead: nil)
        #expect(result.intact)
        #expect(result.records == 30)
        #expect(result.head?.seq == 30)
        #expect(try await store.head() == result.head)
        #expect(try await store.count() == 30)
        let run = try await store.records(run: "r1")
        #expect(run.map(\.seq) == Array(stride(from: 2, through: 29, by: 3)).map(Int64.init))
        #expect(run.first?.body.contains(#""text":"line 1\n\"quoted\" ü \b""#) == true)
        var kinds: [String] = []
        try await store.forEachRecord(where: AuditRecordFilter(since: RFC3339.format(Date(timeIntervalSince1970: 1_800_000_025)))) {
            kinds.append("\($0.seq)")
        }
        #expect(kinds == ["26", "27", "28", "29", "30"])
        await store.close()
    }

    @Test("the same events give the same hashes in SQLite and PostgreSQL")
    func sameHashesInBoth() async throws {
        var heads: [AuditHead?] = []
        for kind in StoreKind.allCases {
            let store = try await StoreUnderTest.make(kind).open()
            try await store.append(batch: (0..<12).map { event($0) })
            heads.append(try await store.head())
            await store.close()
        }
        #expect(heads[0] != nil && heads[0] == heads[1])
    }

    @Test("two openers appending at once (two replicas) form one chain, no seq twice", arguments: StoreKind.allCases)
    func oneChainAcrossOpeners(kind: StoreKind) async throws {
        let target = try await StoreUnderTest.make(kind)
        let first = try await target.open(replica: "replica-a")
        let second = try await target.open(replica: "replica-b")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (store, tag) in [(first, 0), (second, 1)] {
                for task in 0..<8 {
                    group.addTask {
                        for index in 0..<25 { try await store.append(event(tag * 10_000 + task * 100 + index)) }
                    }
                }
            }
            try await group.waitForAll()
        }
        let result = try await first.verify(expectHead: nil)
        #expect(result.intact, "\(result.problem?.description ?? "")")
        #expect(result.records == 2 * 8 * 25)
        var indexes = Set<Int>()
        try await second.forEachRecord(where: AuditRecordFilter()) { record in
            let body = record.bodyValue
            indexes.insert((body["index"] as? NSNumber)?.intValue ?? -1)
        }
        #expect(indexes.count == 400, "every event once")
        await first.close()
        await second.close()
    }

    @Test("records refuse UPDATE and DELETE", arguments: StoreKind.allCases)
    func appendOnly(kind: StoreKind) async throws {
        let target = try await StoreUnderTest.make(kind)
        let store = try await target.open()
        try await store.append(batch: (0..<3).map { event($0) })
        for statement in ["UPDATE audit_record SET kind = 'x' WHERE seq = 2", "DELETE FROM audit_record WHERE seq = 2"] {
            await #expect(throws: (any Error).self) { try await target.sql(statement) }
        }
        if kind == .postgres {
            await #expect(throws: (any Error).self) { try await target.sql("TRUNCATE audit_record") }
        }
        #expect(try await store.verify(expectHead: nil).intact)
        #expect(try await store.count() == 3)
        await store.close()
    }

    @Test("an edited, a removed and a cut record are found", arguments: StoreKind.allCases)
    func tamperFound(kind: StoreKind) async throws {
        let target = try await StoreUnderTest.make(kind)
        let store = try await target.open()
        try await store.append(batch: (0..<20).map { event($0) })
        let head = try #require(try await store.head())
        try await target.tamper("UPDATE audit_record SET body = replace(body, 'line 7', 'line 8') WHERE seq = 8")
        let edited = try await store.verify(expectHead: nil)
        #expect(edited.problem?.seq == 8)
        guard case .contentChanged = edited.problem else {
            Issue.record("expected contentChanged, got \(String(describing: edited.problem))")
            return
        }
        let second = try await StoreUnderTest.make(kind)
        let other = try await second.open()
        try await other.append(batch: (0..<20).map { event($0) })
        try await second.tamper("DELETE FROM audit_record WHERE seq = 5")
        #expect(try await other.verify(expectHead: nil).problem == .missingRecords(after: 4, next: 6))
        let third = try await StoreUnderTest.make(kind)
        let cut = try await third.open()
        try await cut.append(batch: (0..<20).map { event($0) })
        #expect(try await cut.head() == head, "the same events chain to the same head")
        try await third.tamper("DELETE FROM audit_record WHERE seq >= 15")
        #expect(try await cut.verify(expectHead: nil).intact, "a cut tail looks intact on its own")
        #expect(try await cut.verify(expectHead: head).problem == .truncated(expected: head, last: 14))
        await store.close()
        await other.close()
        await cut.close()
    }

    @Test("prune leaves a checkpoint the rest verifies against; appends continue the chain", arguments: StoreKind.allCases)
    func prune(kind: StoreKind) async throws {
        let store = try await StoreUnderTest.make(kind).open()
        try await store.append(batch: (0..<20).map { event($0) })
        let result = try await store.prune(before: RFC3339.format(Date(timeIntervalSince1970: 1_800_000_010)), now: Date())
        #expect(result.removed == 10)
        #expect(result.checkpoint?.seq == 10)
        try await store.append(event(99))
        let verification = try await store.verify(expectHead: nil)
        #expect(verification.intact, "\(verification.problem?.description ?? "")")
        #expect(verification.records == 12)
        #expect(verification.head?.seq == 22)
        await store.close()
    }

    @Test("the run index lists, filters and summarises runs the same way", arguments: StoreKind.allCases)
    func runIndex(kind: StoreKind) async throws {
        let store = try await StoreUnderTest.make(kind).open()
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        for index in 0..<6 {
            let id = "run-\(index)"
            let begin = start.addingTimeInterval(Double(index) * 60)
            try await store.append(
                AuditEvent(
                    time: begin, kind: .runStarted, runID: id,
                    body: [
                        "runbook": .string(index % 2 == 0 ? "disk" : "cert"),
                        "initiator": .string(index == 5 ? "operator:alice" : "alert"),
                        "alert": ["fingerprint": "0123456789abcdef", "labels": ["alertname": "DiskFull"]],
                    ]))
            if index < 5 {
                try await store.append(
                    AuditEvent(
                        time: begin.addingTimeInterval(Double(index + 1)), kind: .runFinished, runID: id,
                        body: [
                            "outcome": .string(index == 3 ? "failed" : "succeeded"),
                            "verification": index == 0 ? "pending" : .null,
                        ]))
            }
        }
        try await store.append(
            AuditEvent(
                time: start.addingTimeInterval(30), kind: .runVerified, runID: "run-0",
                body: ["time_to_resolve_ms": 30_000]))
        try await store.append(
            AuditEvent(time: start, kind: .decisionSuppressed, runID: "", body: ["reason": "cooldown"]))
        let all = try await store.runs(matching: RunFilter())
        #expect(all.map(\.id) == ["run-5", "run-4", "run-3", "run-2", "run-1", "run-0"])
        #expect(all.last?.durationMilliseconds == 1_000)
        #expect(all.last?.verification == .verified)
        #expect(all.last?.timeToResolveMilliseconds == 30_000)
        #expect(all.first?.outcome == nil)
        #expect(try await store.runs(matching: RunFilter(runbook: "disk")).map(\.id) == ["run-4", "run-2", "run-0"])
        #expect(try await store.runs(matching: RunFilter(outcome: "running")).map(\.id) == ["run-5"])
        #expect(try await store.runs(matching: RunFilter(outcome: "failed")).map(\.id) == ["run-3"])
        #expect(try await store.runs(matching: RunFilter(initiator: "operator")).map(\.id) == ["run-5"])
        #expect(try await store.runs(matching: RunFilter(initiator: "operator:alice")).map(\.id) == ["run-5"])
        #expect(try await store.runs(matching: RunFilter(alertname: "DiskFull", limit: 2)).count == 2)
        #expect(try await store.runs(matching: RunFilter(verification: .verified)).map(\.id) == ["run-0"])
        #expect(
            try await store.runs(matching: RunFilter(since: RFC3339.format(start.addingTimeInterval(200)))).map(\.id)
                == ["run-5", "run-4"])
        #expect(try await store.summary(ofRun: "run-3")?.outcome == "failed")
        #expect(try await store.summary(ofRun: "nope") == nil)
        let stats = try await store.stats(since: nil)
        let disk = try #require(stats.runbooks.first { $0.runbook == "disk" })
        #expect(disk.outcomes == ["succeeded": 3])
        #expect(disk.medianMilliseconds == 3_000)
        #expect(disk.verified == 1)
        #expect(disk.resolveP50Milliseconds == 30_000)
        let cert = try #require(stats.runbooks.first { $0.runbook == "cert" })
        #expect(cert.outcomes == ["succeeded": 1, "failed": 1, "running": 1])
        #expect(stats.suppressed == ["cooldown": 1])
        await store.close()
    }

    @Test("a run whose Medic is gone is closed interrupted, or claimed once for rollback", arguments: StoreKind.allCases)
    func abandonedRuns(kind: StoreKind) async throws {
        let target = try await StoreUnderTest.make(kind)
        let store = try await target.open()
        try await store.append(
            AuditEvent(
                time: Date(), kind: .runStarted, runID: "undo-me",
                body: ["runbook": "x", "initiator": "alert", "on_interrupt": "rollback"]))
        try await store.append(
            AuditEvent(time: Date(), kind: .runStarted, runID: "plain", body: ["runbook": "y", "initiator": "alert"]))
        try await store.append(
            AuditEvent(time: Date(), kind: .runStarted, runID: "live", body: ["runbook": "y", "initiator": "alert"]))
        #expect(try await store.markInterruptedRuns(now: Date(), recovering: false) == AbandonedRuns(), "this live process owns them all")
        try await target.sql(
            "UPDATE run SET owner_pid = 999999, owner_start = '1', owner_host = '\(ProcessInfo.processInfo.hostName)' WHERE id <> 'live'"
        )
        #expect(try await store.markInterruptedRuns(now: Date(), recovering: false) == AbandonedRuns(interrupted: ["plain"]))
        #expect(try await store.summary(ofRun: "plain")?.outcome == "interrupted")
        #expect(try await store.markInterruptedRuns(now: Date(), recovering: true) == AbandonedRuns(recovering: ["undo-me"]))
        let again = try await target.open()
        #expect(try await again.markInterruptedRuns(now: Date(), recovering: true) == AbandonedRuns())
        #expect(try await store.records(run: "undo-me").map(\.kind) == ["run.started", "run.recovering"])
        #expect(try await store.summary(ofRun: "live")?.outcome == nil)
        #expect(try await store.verify(expectHead: nil).intact)
        await store.close()
        await again.close()
    }

    @Test("policy history: the replayed kinds since the cutoff, plus what a pending verification needs", arguments: StoreKind.allCases)
    func policyHistory(kind: StoreKind) async throws {
        let store = try await StoreUnderTest.make(kind).open()
        let old = Date(timeIntervalSince1970: 1_800_000_000)
        try await store.append(
            AuditEvent(time: old, kind: .runStarted, runID: "v", body: ["runbook": "x", "initiator": "alert"]))
        try await store.append(
            AuditEvent(time: old, kind: .runFinished, runID: "v", body: ["outcome": "succeeded", "verification": "pending"]))
        try await store.append(AuditEvent(time: old, kind: .alertResolved, runID: "", body: ["fingerprint": "a"]))
        try await store.append(event(1, kind: .stepSkipped, run: "v", at: 1_800_010_000))
        try await store.append(
            AuditEvent(
                time: old.addingTimeInterval(10_000), kind: .decisionSuppressed, runID: "", body: ["reason": "cooldown"]))
        let cutoff = old.addingTimeInterval(5_000)
        let recent = try await store.policyHistory(since: cutoff)
        #expect(recent.map(\.kind) == ["decision.suppressed"])
        let withPending = try await store.policyHistoryWithPendingVerifications(since: cutoff)
        #expect(withPending.map(\.kind) == ["run.finished", "alert.resolved", "decision.suppressed"])
        await store.close()
    }
}
