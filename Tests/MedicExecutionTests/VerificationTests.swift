import Foundation
import MedicCore
import MedicExecution
import Testing

/// `verify`, end to end through the dispatcher with real processes: a run that succeeded is pending until the
/// alert resolves or its probe passes, and what happens when the proof does not come.
@Suite struct VerificationTests {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("medic-verify-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func runbook(_ text: String) throws -> Runbook {
        let source = RunbookSource.check(data: Data(text.utf8), path: "verify.yaml")
        #expect(source.diagnostics.filter { $0.message.severity == .error }.isEmpty, "\(source.diagnostics.map(\.text))")
        return try #require(source.runbook)
    }

    func alert(_ status: Alert.Status = .firing) -> Alert {
        Alert(
            source: .alertmanager, status: status, labels: ["alertname": "DiskFull", "instance": "db1"],
            startsAt: Date(timeIntervalSinceNow: -60))
    }

    func lines(_ name: String) -> [String] {
        ((try? String(contentsOfFile: "\(directory.path)/\(name)", encoding: .utf8)) ?? "").split(separator: "\n")
            .map(String.init)
    }

    func eventually(_ what: String, _ condition: () async -> Bool) async throws {
        for _ in 0..<400 {
            if await condition() { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        Issue.record("never happened: \(what)")
    }

    static let header = """
        triggers:
          - match: ['alertname="DiskFull"']
            group_by: [instance]
        """

    @Test("a probe-only verify: pending while the probe fails, verified once it passes, with the attempts recorded")
    func probeVerifies() async throws {
        let fixed = "\(directory.path)/fixed"
        let audit = InMemoryAuditLog()
        let book = try runbook(
            """
            runbook: disk
            \(Self.header)
            verify:
              within: 20s
              resolved: false
              probe: { run: [test, -f, '\(fixed)'], every: 100ms, timeout: 5s }
            steps:
              - id: clean
                run: ['true']
                timeout: 5s
            """)
        let dispatcher = Dispatcher(runbooks: [book], audit: audit, environment: ["PATH": "/usr/bin:/bin"])
        try await withDispatcher(dispatcher) { dispatcher in
            _ = try await dispatcher.receive([alert()], payloadDigest: "d")
            try await eventually("two failing probes") {
                await audit.events.filter { $0.kind == .verifyProbeFinished }.count >= 2
            }
            #expect(await dispatcher.pendingVerifications.count == 1)
            FileManager.default.createFile(atPath: fixed, contents: nil)
            try await eventually("run.verified") { await audit.events.contains { $0.kind == .runVerified } }
        }
        let events = await audit.events
        let finished = try #require(events.first { $0.kind == .runFinished })
        #expect(finished.body["verification"] == "pending")
        let verified = try #require(events.first { $0.kind == .runVerified })
        #expect(verified.runID == finished.runID)
        #expect(verified.body["by"] == ["probe"])
        // Written ahead: every probe attempt's start is recorded before it ends.
        let started = events.filter { $0.kind == .verifyProbeStarted }.count
        let ended = events.filter { $0.kind == .verifyProbeFinished }.count
        #expect(started == ended && ended >= 3, "\(started) \(ended)")
        #expect(!events.contains { $0.kind == .runUnverified })
    }

    @Test("a fix that does not fix: unverified at the deadline, counted by the breaker, escalated once with why")
    func probeNeverPasses() async throws {
        let audit = InMemoryAuditLog()
        let book = try runbook(
            """
            runbook: disk
            \(Self.header)
            policy:
              circuit_breaker: { failures: 1, within: 1h }
              escalate:
                shell: 'echo "$MEDIC_ESCALATION_REASONS $MEDIC_RUN_ID" >> \(directory.path)/pager'
                timeout: 5s
            verify:
              within: 1s
              probe: { shell: 'echo still full >&2; exit 1', every: 200ms, timeout: 5s }
            steps:
              - id: clean
                run: ['true']
                timeout: 5s
            """)
        let dispatcher = Dispatcher(runbooks: [book], audit: audit, environment: ["PATH": "/usr/bin:/bin"])
        try await withDispatcher(dispatcher) { dispatcher in
            _ = try await dispatcher.receive([alert()], payloadDigest: "d")
            try await eventually("the escalation ran") { lines("pager").count == 1 }
            // The breaker counted the unverified run: the next firing is suppressed.
            let next = try await dispatcher.receive(
                [Alert(source: .alertmanager, status: .firing, labels: ["alertname": "DiskFull", "instance": "db1"],
                    startsAt: Date())], payloadDigest: "d2")
            #expect(next.first?.decisions.first?.reasonCode == "circuit_breaker", "\(next)")
        }
        let events = await audit.events
        let unverified = try #require(events.first { $0.kind == .runUnverified })
        // Both were asked for by default (an alert started the run): neither came.
        let reason = unverified.body["reason"]?.stringValue ?? ""
        #expect(reason.contains("the alert did not resolve"), "\(reason)")
        #expect(reason.contains("the probe still failed after"), "\(reason)")
        #expect(reason.contains("exit 1"), "\(reason)")
        #expect(events.filter { $0.kind == .runEscalated }.count == 1)
        #expect(lines("pager") == ["unverified,breaker_opened \(unverified.runID)"])
        #expect(!events.contains { $0.kind == .runVerified })
    }

    @Test("the alert's resolution verifies a run, with the time to resolve from the alert's start")
    func resolutionVerifies() async throws {
        let audit = InMemoryAuditLog()
        let book = try runbook(
            """
            runbook: disk
            \(Self.header)
            verify: { within: 30s }
            steps:
              - id: clean
                run: ['true']
                timeout: 5s
            """)
        let dispatcher = Dispatcher(runbooks: [book], audit: audit, environment: ["PATH": "/usr/bin:/bin"])
        let firing = alert()
        try await withDispatcher(dispatcher) { dispatcher in
            _ = try await dispatcher.receive([firing], payloadDigest: "d")
            try await eventually("run.finished") { await audit.events.contains { $0.kind == .runFinished } }
            var resolved = firing
            resolved.status = .resolved
            _ = try await dispatcher.receive([resolved], payloadDigest: "d2")
            try await eventually("run.verified") { await audit.events.contains { $0.kind == .runVerified } }
            #expect(await dispatcher.pendingVerifications.isEmpty)
        }
        let verified = try #require(await audit.events.first { $0.kind == .runVerified })
        #expect(verified.body["by"] == ["resolved"])
        let resolve = try #require(verified.body["time_to_resolve_ms"]?.intValue)
        #expect(resolve >= 60_000 && resolve < 90_000, "\(resolve)")
    }

    @Test("on_unverified: rollback undoes the run's steps, recorded under the run, without a second run.finished")
    func unverifiedRollsBack() async throws {
        let audit = InMemoryAuditLog()
        let log = "\(directory.path)/changes"
        let book = try runbook(
            """
            runbook: disk
            \(Self.header)
            verify:
              within: 500ms
              resolved: true
              on_unverified: rollback
            steps:
              - id: change
                run: [sh, -c, 'echo change >> \(log)']
                timeout: 5s
                rollback: { run: [sh, -c, 'echo undo >> \(log)'], timeout: 5s }
            """)
        let dispatcher = Dispatcher(
            runbooks: [book], audit: audit, environment: ["PATH": "/usr/bin:/bin"],
            runRecords: { runID in await audit.records(run: runID) })
        try await withDispatcher(dispatcher) { dispatcher in
            _ = try await dispatcher.receive([alert()], payloadDigest: "d")
            try await eventually("the rollback") { lines("changes") == ["change", "undo"] }
            try await eventually("rollback.finished") { await audit.events.contains { $0.kind == .rollbackFinished } }
        }
        let events = await audit.events
        let runID = try #require(events.first { $0.kind == .runUnverified }?.runID)
        #expect(events.filter { $0.kind == .runFinished && $0.runID == runID }.count == 1)
        #expect(events.contains { $0.kind == .rollbackFinished && $0.runID == runID && $0.body["succeeded"] == true })
        // Rolled back cleanly and not asked to escalate: nobody is paged.
        #expect(!events.contains { $0.kind == .runEscalated })
    }

    @Test("a restart rebuilds a pending verification from the log, and decides one whose deadline passed, once")
    func restartDecidesOnce() async throws {
        let audit = InMemoryAuditLog()
        let book = try runbook(
            """
            runbook: disk
            \(Self.header)
            verify: { within: 1s }
            steps:
              - id: clean
                run: ['true']
                timeout: 5s
            """)
        let first = Dispatcher(runbooks: [book], audit: audit, environment: ["PATH": "/usr/bin:/bin"])
        try await withDispatcher(first) { dispatcher in
            _ = try await dispatcher.receive([alert()], payloadDigest: "d")
            try await eventually("run.finished") { await audit.events.contains { $0.kind == .runFinished } }
            // Stopped while the verification is pending (the next one takes over from the log).
            dispatcher.shutDown()
        }
        #expect(!(await audit.events.contains { $0.kind == .runUnverified }))
        try await Task.sleep(for: .milliseconds(1200))
        let history = await audit.records(all: true)
        let second = Dispatcher(
            runbooks: [book], audit: audit, history: history, environment: ["PATH": "/usr/bin:/bin"])
        try await withDispatcher(second) { _ in
            try await eventually("run.unverified after the restart") {
                await audit.events.contains { $0.kind == .runUnverified }
            }
        }
        // A third start finds it decided and does nothing.
        let third = Dispatcher(
            runbooks: [book], audit: audit, history: await audit.records(all: true),
            environment: ["PATH": "/usr/bin:/bin"])
        try await withDispatcher(third) { dispatcher in
            #expect(await dispatcher.pendingVerifications.isEmpty)
        }
        #expect(await audit.events.filter { $0.kind == .runUnverified }.count == 1)
    }
    @Test("a resolution recorded while the run still ran proves it after a restart, at once, without waiting for the deadline")
    func resolutionBeforeFinishSurvivesRestart() async throws {
        let audit = InMemoryAuditLog()
        let book = try runbook(
            """
            runbook: disk
            \(Self.header)
            verify: { within: 1h }
            steps:
              - id: clean
                run: ['true']
                timeout: 5s
            """)
        let first = Dispatcher(runbooks: [book], audit: audit, environment: ["PATH": "/usr/bin:/bin"])
        let firing = alert()
        try await withDispatcher(first) { dispatcher in
            _ = try await dispatcher.receive([firing], payloadDigest: "d")
            try await eventually("run.finished") { await audit.events.contains { $0.kind == .runFinished } }
            dispatcher.shutDown()
        }
        // As if Medic died after the resolution was recorded during the run and before the run's end was
        // applied: the resolution lies between the run's start and its run.finished.
        var records = await audit.records(all: true)
        let finishedAt = try #require(records.firstIndex { $0.kind == AuditKind.runFinished.rawValue })
        let startedTime = try #require(records.first { $0.kind == AuditKind.runStarted.rawValue }?.time)
        records.insert(
            AuditRecord(
                seq: 0, time: startedTime, kind: AuditKind.alertResolved.rawValue, runID: nil,
                body: JSONValue.object(["fingerprint": .string(firing.fingerprint), "cancelled_waiting": []]).compact,
                prevHash: "", hash: ""), at: finishedAt)
        let second = Dispatcher(runbooks: [book], audit: audit, history: records, environment: ["PATH": "/usr/bin:/bin"])
        try await withDispatcher(second) { _ in
            try await eventually("run.verified") { await audit.events.contains { $0.kind == .runVerified } }
        }
        #expect(!(await audit.events.contains { $0.kind == .runUnverified }))
    }
}
