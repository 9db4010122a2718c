import Foundation
import Synchronization
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

    @Test("with max-queued-runs 5 and one shared lock, a burst runs one, queues five, suppresses the rest, every round")
    func queueBound() async throws {
        let audit = InMemoryAuditLog()
        let slow = try runbook(
            "slow", policy: "  concurrency: 'one-lock'\n  queue: true",
            command: "echo \"$1\" >> \(directory.path)/slow.log; sleep 0.05")
        let dispatcher = Dispatcher(
            runbooks: [slow], audit: audit, configuration: .init(maxConcurrentRuns: 8, queueCapacity: 5),
            environment: ["PATH": "/usr/bin:/bin"])
        try await withDispatcher(dispatcher) { dispatcher in
            for round in 0..<3 {
                let burst = (0..<12).map { Self.alert("r\(round)-h\($0)") }
                let outcomes = try await dispatcher.receive(burst, payloadDigest: "d")
                let decisions = outcomes.flatMap(\.decisions)
                #expect(decisions.filter { $0.decision == "run" }.count == 1, "round \(round)")
                #expect(decisions.filter { $0.decision == "queued" }.count == 5, "round \(round)")
                #expect(decisions.filter { $0.reasonCode == "queue_full" }.count == 6, "round \(round)")
                try await eventually { await dispatcher.counts.pending == 0 }
                #expect(await dispatcher.counts.pending == 0)
            }
        }
        #expect(lines("slow").count == 18)
        let events = await audit.events
        #expect(events.filter { $0.kind == .decisionSuppressed && $0.body["reason"] == "queue_full" }.count == 18)
        #expect(events.filter { $0.kind == .runFinished && $0.body["outcome"] == "succeeded" }.count == 18)
    }

    @Test("a failed commit leaves no trace: the retry is decided afresh (dedup, cooldown, shadow, approval)")
    func failedCommitIsUndone() async throws {
        let audit = FlakyAuditLog()
        let fix = try runbook("fix", trigger: "    cooldown: 1h\n")
        let quiet = try runbook("quiet", policy: "  mode: shadow")
        let careful = try runbook("careful", policy: "  mode: approval\n  concurrency: 'c:{{ params.host }}'")
        let dispatcher = Dispatcher(
            runbooks: [fix, quiet, careful], audit: audit, environment: ["PATH": "/usr/bin:/bin"])
        try await withDispatcher(dispatcher) { dispatcher in
            let before = await dispatcher.gateFootprint
            await audit.setFailing(true)
            await #expect(throws: (any Error).self) {
                try await dispatcher.receive([Self.alert("db1")], payloadDigest: "d")
            }
            #expect(await dispatcher.gateFootprint == before)
            #expect(await dispatcher.counts.pending == 0)
            await audit.setFailing(false)
            let retry = try await dispatcher.receive([Self.alert("db1")], payloadDigest: "d")
            #expect(
                retry.first?.decisions.map(\.decision).sorted() == ["awaiting_approval", "run", "shadowed"],
                "\(String(describing: retry.first?.decisions))")
            // An approval whose write fails leaves the run waiting, its lock held, and can be given again.
            let waiting = try #require(retry.first?.decisions.first { $0.decision == "awaiting_approval" }?.runID)
            await audit.setFailing(true)
            await #expect(throws: (any Error).self) { try await dispatcher.approve(waiting, by: "alice") }
            #expect(await dispatcher.phase(of: waiting) == .awaitingApproval)
            await audit.setFailing(false)
            #expect(try await dispatcher.approve(waiting, by: "alice") == .approved)
            try await eventually { await dispatcher.counts.pending == 0 }
        }
        let events = await audit.events
        #expect(events.filter { $0.kind == .alertReceived }.count == 1)
        #expect(events.filter { $0.kind == .runApproved }.count == 1)
        #expect(lines("fix") == ["db1"])
        #expect(lines("careful") == ["db1"])
    }

    @Test("stress: concurrent alerts, resolutions, approvals and cancels; every run ends once, nothing leaks")
    func stress() async throws {
        let audit = InMemoryAuditLog()
        let careful = try runbook(
            "careful", policy: "  mode: approval\n  concurrency: 'c:{{ params.host }}'\n  queue: true",
            command: "sleep 0.01")
        let eager = try runbook("eager", policy: "  concurrency: 'e:{{ params.host }}'\n  queue: true", command: "true")
        let dispatcher = Dispatcher(
            runbooks: [careful, eager], audit: audit, configuration: .init(maxConcurrentRuns: 3, queueCapacity: 6),
            environment: ["PATH": "/usr/bin:/bin"])
        let known = RunIDs()
        let hosts = ["h1", "h2", "h3"]
        try await withDispatcher(dispatcher) { dispatcher in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<6 {
                    group.addTask {
                        var random = SystemRandomNumberGenerator()
                        for step in 0..<500 {
                            let host = hosts.randomElement(using: &random)!
                            switch Int.random(in: 0..<10, using: &random) {
                            case 0..<4:
                                let outcome = try await dispatcher.receive(
                                    [Self.alert(host, startsAt: Double(worker * 1000 + step))], payloadDigest: "d")
                                await known.add(outcome.flatMap(\.decisions).compactMap(\.runID))
                            case 4:
                                _ = try await dispatcher.receive(
                                    [Self.alert(host, status: .resolved)], payloadDigest: "d")
                            case 5..<8:
                                if let runID = await known.random() { _ = try await dispatcher.approve(runID, by: "a") }
                            default:
                                if let runID = await known.random() { _ = try await dispatcher.cancel(runID, by: "c") }
                            }
                            // Paced a little, so that runs execute and end while requests keep coming.
                            try await Task.sleep(for: .milliseconds(2))
                        }
                    }
                }
                try await group.waitForAll()
            }
            // Whatever still waits for an approval ends with its alert's resolution.
            for host in hosts {
                _ = try await dispatcher.receive([Self.alert(host, status: .resolved)], payloadDigest: "d")
            }
            try await eventually { await dispatcher.counts.pending == 0 }
        }
        #expect(await dispatcher.counts.pending == 0)
        #expect(await dispatcher.held.activeRuns == 0)
        #expect(await dispatcher.held.locks == 0)
        RunEnds.expectEveryRunEndsOnce(await audit.events)
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

    @Test("a failed rollback escalates once: run.escalated, and the hook learns why and which run")
    func rollbackFailedEscalates() async throws {
        let audit = InMemoryAuditLog()
        let pager = "\(directory.path)/pager.log"
        let text = """
            runbook: fragile
            triggers:
              - match: ['alertname="Down"']
            policy:
              mode: autonomous
              circuit_breaker: { failures: 1, within: 1h }
              escalate:
                shell: 'printf "%s|%s|%s|%s|%s\\n" "$MEDIC_ESCALATION_REASON" "$MEDIC_ESCALATION_REASONS" "$MEDIC_RUN_ID" "$MEDIC_RUNBOOK" "$MEDIC_ESCALATION_RUN_ID" >> \(pager)'
                timeout: 5s
            steps:
              - id: change
                run: ['true']
                rollback: { run: ['false'], timeout: 5s }
                timeout: 5s
              - id: check
                run: ['false']
                timeout: 5s
            """
        let fragile = try #require(RunbookSource.check(data: Data(text.utf8), path: "fragile.yaml").runbook)
        let dispatcher = Dispatcher(runbooks: [fragile], audit: audit, environment: ["PATH": "/usr/bin:/bin"])
        try await withDispatcher(dispatcher) { dispatcher in
            _ = try await dispatcher.receive([Self.alert("db1")], payloadDigest: "d")
            try await eventually { lines("pager").count == 1 }
        }
        let events = await audit.events
        let finished = try #require(events.first { $0.kind == .runFinished && $0.body["outcome"] == "rollback_failed" })
        let escalated = events.filter { $0.kind == .runEscalated }
        #expect(escalated.count == 1)
        #expect(escalated.first?.runID == finished.runID)
        // Both reasons, most urgent first, in one escalation (one page, not two).
        #expect(escalated.first?.body["reasons"] == ["rollback_failed", "breaker_opened"])
        let hook = try #require(events.first { $0.kind == .runStarted && $0.body["escalates"] == .string(finished.runID) })
        #expect(lines("pager") == ["rollback_failed|rollback_failed,breaker_opened|\(finished.runID)|fragile|\(hook.runID)"])
        #expect(hook.body["initiator"] == "escalation")
    }

    @Test("a breaker.opened that cannot be written and an escalation that fails are reported, recorded when possible")
    func troubleIsNotSwallowed() async throws {
        let audit = FlakyAuditLog()
        await audit.fail(kinds: [.breakerOpened])
        let failing = try runbook(
            "flaky", policy: "  circuit_breaker: { failures: 1, within: 1h }\n  escalate: { run: ['false'], timeout: 5s }",
            command: "exit 1")
        let reported = Reported()
        let dispatcher = Dispatcher(
            runbooks: [failing], audit: audit, environment: ["PATH": "/usr/bin:/bin"],
            trouble: { trouble in Task { await reported.add(trouble) } })
        try await withDispatcher(dispatcher) { dispatcher in
            _ = try await dispatcher.receive([Self.alert("db1")], payloadDigest: "d")
            try await eventually { await reported.all.count >= 2 }
        }
        let troubles = await reported.all
        // The breaker.opened is lost with the run.escalated committed beside it.
        #expect(troubles.contains(.recordsLost(kinds: [.breakerOpened, .runEscalated], error: "Refused()")), "\(troubles)")
        #expect(troubles.contains { if case .escalationFailed(let runbook, _) = $0 { runbook == "flaky" } else { false } })
        let events = await audit.events
        #expect(events.contains { $0.kind == .escalationFailed && $0.body["runbook"] == "flaky" })
        // The breaker is open all the same (replay derives it from the failures).
        let next = try await dispatcher.receive([Self.alert("db1", startsAt: 9)], payloadDigest: "d")
        #expect(next.first?.decisions.first?.reasonCode == "circuit_breaker")
    }

    @Test("time is the dispatcher's clock: a cooldown ends when the hand-driven clock says so, records carry its time")
    func handDrivenTime() async throws {
        let audit = InMemoryAuditLog()
        let clock = WallClock(Date(timeIntervalSince1970: 1_900_000_000))
        let fix = try runbook("fix", trigger: "    cooldown: 10m\n")
        let dispatcher = Dispatcher(
            runbooks: [fix], audit: audit, environment: ["PATH": "/usr/bin:/bin"], now: { clock.now })
        try await withDispatcher(dispatcher) { dispatcher in
            #expect(try await dispatcher.receive([Self.alert("db1", startsAt: 0)], payloadDigest: "d")
                .first?.decisions.first?.decision == "run")
            clock.advance(300)
            #expect(try await dispatcher.receive([Self.alert("db1", startsAt: 1)], payloadDigest: "d")
                .first?.decisions.first?.reasonCode == "cooldown")
            clock.advance(301)
            #expect(try await dispatcher.receive([Self.alert("db1", startsAt: 2)], payloadDigest: "d")
                .first?.decisions.first?.decision == "run")
            try await eventually { await dispatcher.counts.pending == 0 }
        }
        let times = Set(await audit.events.filter { $0.kind.isDecision }.map(\.time.timeIntervalSince1970))
        #expect(times == [1_900_000_000, 1_900_000_300, 1_900_000_601])
    }

    @Test("cancel stops a running run")
    func cancelRunning() async throws {
        let audit = InMemoryAuditLog()
        let slow = try runbook("slow", command: "sleep 300")
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
        let slow = try runbook("slow", command: "sleep 300")
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
        #expect(ContinuousClock.now - started < Bounds.promptly)
        let events = await audit.events
        #expect(events.contains { $0.kind == .runFinished && $0.body["outcome"] == "cancelled" })
        // The running run had its grace period before it was stopped.
        let stopping = try #require(events.first { $0.kind == .runStopping })
        let attempt = try #require(events.first { $0.kind == .attemptStarted })
        #expect(stopping.time.timeIntervalSince(attempt.time) >= 0.25)
    }

    @Test("shutdown ends every decided run once: waiting ones cancelled at once, a lock handed over is not started")
    func shutdownEndsEveryRun() async throws {
        let audit = InMemoryAuditLog()
        let held = try runbook(
            "held", policy: "  concurrency: 'one'\n  queue: true", command: "sleep 30")
        let careful = try runbook("careful", policy: "  mode: approval")
        let dispatcher = Dispatcher(
            runbooks: [held, careful], audit: audit, configuration: .init(shutdownGrace: .milliseconds(200)),
            environment: ["PATH": "/usr/bin:/bin"])
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await dispatcher.run() }
            // One runs and holds the lock, two wait for it, and each alert also waits for an approval.
            for host in ["a", "b", "c"] { _ = try? await dispatcher.receive([Self.alert(host)], payloadDigest: "d") }
            try? await eventually { await audit.events.contains { $0.kind == .attemptStarted } }
            dispatcher.shutDown()
            await group.waitForAll()
        }
        let events = await audit.events
        let decided = Set(events.filter { $0.kind.isDecision && !$0.runID.isEmpty }.map(\.runID))
        #expect(decided.count == 6)
        var ends: [String: Int] = [:]
        for event in events where event.kind == .runFinished { ends[event.runID, default: 0] += 1 }
        #expect(Set(ends.keys) == decided)
        #expect(ends.values.allSatisfy { $0 == 1 })
        #expect(events.filter { $0.kind == .attemptStarted && $0.body["phase"] == "main" }.count == 1)
        #expect(
            events.filter { $0.kind == .runFinished && $0.body["reason"] == "medic stopped before the run started" }
                .count == 5)
        #expect(await dispatcher.held.activeRuns == 0)
        #expect(await dispatcher.held.locks == 0)
        // Nothing new is decided once stopping: the sender retries against the next Medic.
        await #expect(throws: Dispatcher.ShuttingDown.self) {
            try await dispatcher.receive([Self.alert("d")], payloadDigest: "d")
        }
    }
}

/// An audit log whose writes fail on demand (a full disk, a database gone), for the seam only.
actor FlakyAuditLog: AuditLog {
    struct Refused: Error {}
    private(set) var events: [AuditEvent] = []
    private var failing = false
    private var failingKinds: Set<AuditKind> = []

    func setFailing(_ value: Bool) { failing = value }
    func fail(kinds: Set<AuditKind>) { failingKinds = kinds }

    func append(_ event: AuditEvent) async throws {
        try await append(batch: [event])
    }

    func append(batch events: [AuditEvent]) async throws {
        if failing || events.contains(where: { failingKinds.contains($0.kind) }) { throw Refused() }
        self.events += events
    }
}

/// Run ids seen so far, for workers that approve and cancel at random.
actor RunIDs {
    private var ids: [String] = []
    func add(_ new: [String]) { ids += new }
    /// One of the most recent ids (older ones have mostly ended).
    func random() -> String? { ids.suffix(12).randomElement() }
    var all: [String] { ids }
}

/// Troubles a dispatcher reported.
actor Reported {
    private(set) var all: [Dispatcher.Trouble] = []
    func add(_ trouble: Dispatcher.Trouble) { all.append(trouble) }
}

/// A wall clock moved by hand.
final class WallClock: Sendable {
    private let state: Mutex<Date>
    init(_ start: Date) { state = Mutex(start) }
    var now: Date { state.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { state.withLock { $0 = $0.addingTimeInterval(seconds) } }
}
