import Foundation
import MedicCore
import MedicStore
import Testing

/// A log written by the previous release (`Fixtures/previous-release.db`, made by
/// `Fixtures/make-previous-release-db.sh` with the `medic` built from main at 1cf953a) opens, verifies, reads
/// through the typed vocabulary, rebuilds a gate, and takes new records on the same chain.
@Suite struct SQLiteAuditLogCompatibilityTests {
    static let fixture = Fixtures.packageRoot.appendingPathComponent(
        "Tests/MedicStoreTests/Fixtures/previous-release.db")
    static let head = "39:5a1f5d609145dd952b6874d7dd8b7f153c0ba6d81c7c9140c7bf4d47b223fe78"

    func copy() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("medic-compat-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("audit.db").path
        try FileManager.default.copyItem(atPath: Self.fixture.path, toPath: path)
        return path
    }

    @Test("the previous release's log opens and verifies unchanged, then grows on the same chain")
    func opensVerifiesAndGrows() async throws {
        let log = try SQLiteAuditLog(path: try copy())
        let before = try log.verify()
        #expect(before.intact, "\(String(describing: before.problem))")
        #expect(before.records == 39)
        #expect(before.head?.description == Self.head)
        #expect(try log.markInterruptedRuns() == .init(), "its runs were all closed by the release that wrote it")
        try await log.append(
            PolicyGate.breakerRecord(opened: false, runbook: "fix", key: nil, now: Date()))
        let after = try log.verify(expectHead: SQLiteAuditLog.Head(seq: 39, hash: String(Self.head.dropFirst(3))))
        #expect(after.intact, "\(String(describing: after.problem))")
        #expect(after.records == 40)
    }

    @Test("every record of the previous release has a known kind, and the read-back bodies decode")
    func typedReadBack() throws {
        let log = try SQLiteAuditLog(path: try copy())
        var records: [AuditRecord] = []
        try log.forEachRecord { records.append($0) }
        #expect(records.count == 39)
        #expect(records.allSatisfy { $0.auditKind != nil }, "\(records.filter { $0.auditKind == nil }.map(\.kind))")
        let started = records.filter { $0.auditKind == .runStarted }
        #expect(started.count == 5)
        #expect(started.allSatisfy { $0.body(as: RunStartedBody.self) != nil })
        let outcomes = records.compactMap { $0.body(as: RunFinishedBody.self)?.outcome }
        #expect(Set(outcomes) == [.failed, .interrupted, .succeeded, .shadowed, .cancelled])
        let decisions = records.filter { $0.auditKind?.isDecision == true }
        #expect(decisions.count == 6)
        #expect(decisions.allSatisfy { $0.body(as: DecisionBody.self)?.runbook != nil })
        #expect(records.contains { $0.body(as: AttemptFinishedBody.self)?.exitCode == 3 })
        #expect(records.contains { $0.body(as: AlertResolvedBody.self) != nil })
        #expect(records.contains { $0.body(as: BreakerBody.self)?.groupKey == "instance=db1" })
        // The interrupted run rebuilds for recovery from typed bodies too.
        let operatorRun = records.filter { $0.runID == started[0].runID }
        let interrupted = try #require(InterruptedRun(records: operatorRun))
        #expect(interrupted.runbook == "op-fix")
        #expect(interrupted.succeeded == ["touch"])
        #expect(interrupted.rolledBack == ["touch"])
    }

    @Test("a gate rebuilt from the previous release's log keeps its cooldown")
    func replaysIntoTheGate() throws {
        let log = try SQLiteAuditLog(path: try copy())
        let text = """
            runbook: fix
            params:
              host: { type: string, from: alert.labels.instance, pattern: '[a-z0-9]+' }
            triggers:
              - match: ['alertname="Down"']
                group_by: [instance]
                cooldown: 10m
            policy:
              concurrency: 'fix:{{ params.host }}'
              circuit_breaker: { failures: 3, within: 1h }
            steps:
              - id: fix
                run: [echo, 'fixing {{ params.host }}']
                timeout: 5s
            """
        let runbook = try #require(RunbookSource.check(data: Data(text.utf8), path: "fix.yaml").runbook)
        let written = try #require(RFC3339.parse("2026-11-29T07:59:29.753Z"))
        let now = written.addingTimeInterval(120)
        var gate = PolicyGate()
        gate.replay(
            try log.policyHistory(since: gate.replayCutoff(now: now, runbooks: [runbook])), runbooks: [runbook],
            now: now)
        let later = Alert(
            source: .alertmanager, status: .firing, labels: ["alertname": "Down", "instance": "db1"],
            startsAt: written.addingTimeInterval(60))
        let decision = gate.decide(
            .init(runbook: runbook, trigger: runbook.triggers[0], alert: later, lockKey: "fix:db1"), runID: "n",
            now: now)
        #expect(decision == .suppressed(.cooldown(key: "instance=db1", until: written.addingTimeInterval(600))))
        #expect(gate.activeRuns == 0)
        #expect(gate.heldLocks == 0)
    }
}
