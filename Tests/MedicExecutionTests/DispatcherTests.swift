import Foundation
import MedicCore
import MedicExecution
import Testing

/// The engine end to end, without HTTP: alerts in, decisions and runs recorded, real processes run.
@Suite struct DispatcherTests {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("medic-dispatch-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func runbook(_ id: String, policy: String = "  mode: autonomous", trigger: String = "", command: String? = nil)
        throws -> Runbook
    {
        let script = command ?? "echo \"$1\" >> \(directory.path)/\(id).log"
        let text = """
            runbook: \(id)
            params:
              host: { type: string, from: alert.labels.instance, pattern: '[a-z0-9.:-]+' }
            triggers:
              - match: ['alertname="Down"']
                group_by: [instance]
            \(trigger)policy:
            \(policy)
            steps:
              - id: fix
                run: [sh, -c, '\(script)', host, '{{ params.host }}']
                timeout: 10s
            """
        let source = RunbookSource.check(data: Data(text.utf8), path: "\(id).yaml")
        return try #require(source.runbook, "\(source.diagnostics.map(\.text))")
    }

    static func alert(_ host: String, startsAt: Double = 0, status: Alert.Status = .firing) -> Alert {
        Alert(
            source: .alertmanager, status: status, labels: ["alertname": "Down", "instance": host],
            startsAt: Date(timeIntervalSince1970: 1_800_000_000 + startsAt))
    }

    func lines(_ id: String) -> [String] {
        ((try? String(contentsOfFile: "\(directory.path)/\(id).log", encoding: .utf8)) ?? "").split(separator: "\n")
            .map(String.init)
    }

    /// Runs `body` while the dispatcher's run loop executes; stops the loop afterwards.
    func withDispatcher(
        _ dispatcher: Dispatcher, _ body: @Sendable (Dispatcher) async throws -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await dispatcher.run() }
            try await body(dispatcher)
            await dispatcher.finishQueue()
            try await group.waitForAll()
        }
    }

    func eventually(_ condition: () async -> Bool) async throws {
        for _ in 0..<200 {
            if await condition() { return }
            try await Task.sleep(for: .milliseconds(25))
        }
    }

    @Test("an alert is recorded, decided, run for real, and a re-sent copy is deduplicated")
    func runsAndDedups() async throws {
        let audit = InMemoryAuditLog()
        let dispatcher = Dispatcher(
            runbooks: [try runbook("fix")], audit: audit, environment: ["PATH": "/usr/bin:/bin"])
        try await withDispatcher(dispatcher) { dispatcher in
            let first = try await dispatcher.receive([Self.alert("db1")], payloadDigest: "d1")
            #expect(first.first?.decisions.map(\.decision) == ["run"])
            let again = try await dispatcher.receive([Self.alert("db1")], payloadDigest: "d1")
            #expect(again.first?.decisions.first?.decision == "suppressed")
            #expect(again.first?.decisions.first?.reason?.hasPrefix("duplicate") == true)
        }
        #expect(lines("fix") == ["db1"])
        let kinds = await audit.events.map(\.kind)
        #expect(kinds.prefix(2) == [.alertReceived, .decisionRun])
        #expect(kinds.contains(.runFinished))
        #expect(kinds.filter { $0 == .decisionSuppressed }.count == 1)
    }

    @Test("shadow mode records the plan and runs nothing; approval waits until approved")
    func shadowAndApproval() async throws {
        let audit = InMemoryAuditLog()
        let quiet = try runbook("quiet", policy: "  mode: shadow")
        let careful = try runbook("careful", policy: "  mode: approval")
        let dispatcher = Dispatcher(runbooks: [quiet, careful], audit: audit, environment: ["PATH": "/usr/bin:/bin"])
        try await withDispatcher(dispatcher) { dispatcher in
            let outcome = try await dispatcher.receive([Self.alert("db1")], payloadDigest: "d")
            #expect(outcome.first?.decisions.map(\.decision) == ["shadowed", "awaiting_approval"])
            try await Task.sleep(for: .milliseconds(200))
            #expect(lines("careful").isEmpty)
            let runID = try #require(outcome.first?.decisions.last?.runID)
            #expect(try await dispatcher.approve(runID, by: "alice") == .approved)
            try await eventually { lines("careful") == ["db1"] }
        }
        #expect(lines("quiet").isEmpty)
        #expect(lines("careful") == ["db1"])
        let events = await audit.events
        #expect(events.contains { $0.kind == .runShadowed && $0.body["plan"] != nil })
        #expect(events.contains { $0.kind == .runApproved && $0.body["by"] == "alice" })
        #expect(events.filter { $0.kind == .runStarted && $0.body["runbook"] == "careful" }.count == 1)
    }

    @Test("a resolved notification cancels a run still waiting for approval and is recorded against it")
    func resolvedCancelsWaiting() async throws {
        let audit = InMemoryAuditLog()
        let dispatcher = Dispatcher(
            runbooks: [try runbook("careful", policy: "  mode: approval")], audit: audit,
            environment: ["PATH": "/usr/bin:/bin"])
        try await withDispatcher(dispatcher) { dispatcher in
            let outcome = try await dispatcher.receive([Self.alert("db1")], payloadDigest: "d")
            let runID = try #require(outcome.first?.decisions.first?.runID)
            _ = try await dispatcher.receive([Self.alert("db1", status: .resolved)], payloadDigest: "d2")
            #expect(try await dispatcher.approve(runID, by: "alice") == .notWaiting)
        }
        let events = await audit.events
        #expect(events.contains { $0.kind == .alertResolved && $0.body["cancelled_waiting"] != .array([]) })
        #expect(events.contains { $0.kind == .runFinished && $0.body["outcome"] == "cancelled" })
        #expect(lines("careful").isEmpty)
    }

    @Test("a full queue records the match as suppressed: queue full")
    func queueFull() async throws {
        let audit = InMemoryAuditLog()
        let dispatcher = Dispatcher(
            runbooks: [try runbook("fix")], audit: audit, configuration: .init(queueCapacity: 1),
            environment: ["PATH": "/usr/bin:/bin"])
        // The run loop is not started, so nothing leaves the queue.
        let first = try await dispatcher.receive([Self.alert("db1")], payloadDigest: "d")
        let second = try await dispatcher.receive([Self.alert("db2")], payloadDigest: "d")
        #expect(first.first?.decisions.first?.decision == "run")
        #expect(second.first?.decisions.first?.reason == "queue full")
        #expect(await audit.events.contains { $0.kind == .decisionSuppressed && $0.body["reason"] == "queue_full" })
    }

    @Test("repeated failures open the breaker, run the escalate hook once, and suppress further runs")
    func breakerEscalates() async throws {
        let audit = InMemoryAuditLog()
        let failing = try runbook(
            "flaky",
            policy:
                "  circuit_breaker: { failures: 2, within: 1h }\n  escalate: { run: [sh, -c, 'echo paged >> \(directory.path)/pager.log'], timeout: 5s }",
            command: "exit 1")
        let dispatcher = Dispatcher(runbooks: [failing], audit: audit, environment: ["PATH": "/usr/bin:/bin"])
        try await withDispatcher(dispatcher) { dispatcher in
            for attempt in 0..<2 {
                _ = try await dispatcher.receive([Self.alert("db1", startsAt: Double(attempt))], payloadDigest: "d")
                try await eventually { await audit.events.filter { $0.kind == .runFinished }.count >= attempt + 1 }
            }
            try await eventually { lines("pager") == ["paged"] }
            let third = try await dispatcher.receive([Self.alert("db1", startsAt: 5)], payloadDigest: "d")
            #expect(third.first?.decisions.first?.reason?.hasPrefix("circuit breaker open") == true)
        }
        #expect(lines("pager") == ["paged"])
        #expect(await audit.events.contains { $0.kind == .breakerOpened })
    }

    @Test("cancel stops a running run")
    func cancelRunning() async throws {
        let audit = InMemoryAuditLog()
        let slow = try runbook("slow", command: "sleep 30")
        let dispatcher = Dispatcher(runbooks: [slow], audit: audit, environment: ["PATH": "/usr/bin:/bin"])
        try await withDispatcher(dispatcher) { dispatcher in
            let outcome = try await dispatcher.receive([Self.alert("db1")], payloadDigest: "d")
            let runID = try #require(outcome.first?.decisions.first?.runID)
            try await eventually { await audit.events.contains { $0.kind == .attemptStarted } }
            #expect(try await dispatcher.cancel(runID, by: "bob") == .stopRunning)
            try await eventually { await audit.events.contains { $0.kind == .runFinished } }
        }
        #expect(await audit.events.contains { $0.kind == .runFinished && $0.body["outcome"] == "cancelled" })
    }

    @Test("shutdown: no new runs start, running ones get the grace period, then are stopped and recorded")
    func gracefulShutdown() async throws {
        let audit = InMemoryAuditLog()
        let slow = try runbook("slow", command: "sleep 30")
        let dispatcher = Dispatcher(
            runbooks: [slow], audit: audit, configuration: .init(shutdownGrace: .milliseconds(300)),
            environment: ["PATH": "/usr/bin:/bin"])
        let started = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await dispatcher.run() }
            _ = try? await dispatcher.receive([Self.alert("db1")], payloadDigest: "d")
            try? await eventually { await audit.events.contains { $0.kind == .attemptStarted } }
            dispatcher.shutDown()
            await group.waitForAll()
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        let events = await audit.events
        #expect(events.contains { $0.kind == .runFinished && $0.body["outcome"] == "cancelled" })
        // The running run had its grace period before it was stopped.
        let stopping = try #require(events.first { $0.kind == .runStopping })
        let attempt = try #require(events.first { $0.kind == .attemptStarted })
        #expect(stopping.time.timeIntervalSince(attempt.time) >= 0.25)
    }
}
