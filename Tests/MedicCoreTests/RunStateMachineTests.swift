import Foundation
import MedicCore
import Testing

/// Drives the state machine on a virtual clock with scripted attempt results: no processes, no real time.
struct Simulation {
    struct Scheduled {
        var at: Duration
        var event: RunStateMachine.Event
        var order: Int
    }

    var machine: RunStateMachine
    /// How each attempt ends and how long it runs.
    var script: (AttemptRequest) -> (AttemptResult, Duration)
    var now: Duration = .zero
    var queue: [Scheduled] = []
    var counter = 0
    var log: [String] = []
    var started: [AttemptRequest] = []
    var running: [String: Int] = [:]  // step -> index in queue order
    var maxConcurrent = 0
    var retryDelays: [Duration] = []

    init(
        _ text: String, params: [String: ParamValue] = [:], seed: UInt64 = 1, maxParallel: Int = 4,
        script: @escaping (AttemptRequest) -> (AttemptResult, Duration)
    ) throws {
        let source = RunbookSource.check(data: Data(text.utf8), path: "sim.yaml")
        guard let runbook = source.runbook else {
            throw SimulationError(message: source.diagnostics.map(\.text).joined(separator: "; "))
        }
        let graph = try StepGraph.build(runbook.steps).get()
        machine = RunStateMachine(
            runbook: runbook, graph: graph, context: RunContext(runID: "r1", params: params),
            baseEnvironment: ["PATH": "/usr/bin:/bin"], maxParallel: maxParallel, seed: seed)
        self.script = script
    }

    struct SimulationError: Error { var message: String }

    mutating func schedule(_ event: RunStateMachine.Event, after delay: Duration) {
        counter += 1
        queue.append(Scheduled(at: now + delay, event: event, order: counter))
    }

    mutating func apply(_ actions: [RunStateMachine.Action]) {
        for action in actions {
            switch action {
            case .startAttempt(let request):
                started.append(request)
                let tag = request.phase == .main ? request.step : "rollback:\(request.step)"
                log.append("\(now.dslDescription) start \(tag)#\(request.attempt)")
                let (result, duration) = script(request)
                schedule(.attemptFinished(step: request.step, phase: request.phase, result: result), after: duration)
                if request.phase == .main {
                    running[request.step] = counter
                    maxConcurrent = max(maxConcurrent, running.count)
                }
            case .scheduleRetry(let step, let phase, _, let delay):
                retryDelays.append(delay)
                schedule(.retryDue(step: step, phase: phase), after: delay)
            case .scheduleDeadline(let after):
                schedule(.deadlineReached, after: after)
            case .stopAttempts(let steps):
                log.append("\(now.dslDescription) stop \(steps.joined(separator: ","))")
                for step in steps {
                    guard let order = running[step], let index = queue.firstIndex(where: { $0.order == order }) else {
                        continue
                    }
                    queue.remove(at: index)
                    counter += 1
                    queue.append(
                        Scheduled(
                            at: now,
                            event: .attemptFinished(
                                step: step, phase: .main,
                                result: AttemptResult(termination: .signaled(15), cancelled: true)),
                            order: counter))
                }
            case .stepSkipped(let step, _):
                log.append("\(now.dslDescription) skip \(step)")
            case .stepFinished(let step, let status):
                log.append("\(now.dslDescription) \(step) \(status.rawValue)")
            case .rollbackStarted(let steps):
                log.append("\(now.dslDescription) rollback \(steps.joined(separator: ","))")
            case .rollbackFinished(let step, let succeeded):
                log.append("\(now.dslDescription) rollback:\(step) \(succeeded ? "ok" : "failed")")
            case .finished(let outcome):
                log.append("\(now.dslDescription) finished \(outcome.rawValue)")
            }
        }
    }

    mutating func run(cancelAt: Duration? = nil, startWith first: RunStateMachine.Event = .start) -> RunOutcome? {
        if let cancelAt { schedule(.cancelRequested, after: cancelAt) }
        apply(machine.handle(first))
        var steps = 0
        while machine.outcome == nil, !queue.isEmpty, steps < 10_000 {
            steps += 1
            queue.sort { ($0.at, $0.order) < ($1.at, $1.order) }
            let next = queue.removeFirst()
            now = next.at
            if case .attemptFinished(let step, .main, _) = next.event { running[step] = nil }
            apply(machine.handle(next.event))
        }
        return machine.outcome
    }
}

func ok(_ seconds: Int = 1, stdout: String = "") -> (AttemptResult, Duration) {
    (AttemptResult(termination: .exited(0), stdout: stdout), .seconds(seconds))
}

func fail(_ code: Int32 = 1, after seconds: Int = 1) -> (AttemptResult, Duration) {
    (AttemptResult(termination: .exited(code)), .seconds(seconds))
}

func timeout(after seconds: Int = 5) -> (AttemptResult, Duration) {
    (AttemptResult(termination: .signaled(15), timedOut: true), .seconds(seconds))
}

@Suite struct RunStateMachineTests {
    static func runbook(_ steps: String, policy: String = "") -> String {
        "runbook: sim\ntriggers:\n  - match: ['alertname=\"X\"']\n\(policy)steps:\n\(steps)"
    }

    static func step(_ id: String, _ extra: String = "") -> String {
        "  - id: \(id)\n    run: [\"\(id)\"]\n    timeout: 10s\n\(extra)"
    }

    @Test("list order: steps run one after another and the run succeeds")
    func sequential() throws {
        var sim = try Simulation(Self.runbook(Self.step("a") + Self.step("b") + Self.step("c"))) { _ in ok() }
        #expect(sim.run() == .succeeded)
        #expect(sim.started.map(\.step) == ["a", "b", "c"])
        #expect(sim.maxConcurrent == 1)
        #expect(sim.machine.status(of: "c") == .succeeded)
    }

    @Test("independent steps run in parallel, bounded by maxParallel")
    func parallel() throws {
        let steps =
            (1...6).map { Self.step("p\($0)", "    needs: []\n") }.joined()
            + Self.step("join", "    needs: [p1, p2, p3, p4, p5, p6]\n")
        var sim = try Simulation(Self.runbook(steps), maxParallel: 3) { _ in ok(2) }
        #expect(sim.run() == .succeeded)
        #expect(sim.maxConcurrent == 3)
        #expect(sim.started.last?.step == "join")
        #expect(sim.now == .seconds(6))  // two waves of three, then the join
    }

    @Test("retries: counted, spaced by exponential backoff capped at max_delay, then success")
    func retries() throws {
        let text = Self.runbook(
            Self.step(
                "flaky", "    retry: { attempts: 5, delay: 2s, backoff: exponential, max_delay: 5s, jitter: false }\n"))
        var sim = try Simulation(text) { request in request.attempt < 4 ? fail() : ok() }
        #expect(sim.run() == .succeeded)
        #expect(sim.started.map(\.attempt) == [1, 2, 3, 4])
        #expect(sim.retryDelays == [.seconds(2), .seconds(4), .seconds(5)])
        #expect(sim.machine.attempts["flaky"]?.count == 4)
        #expect(sim.started.last?.environment["MEDIC_ATTEMPT"] == "4")
    }

    @Test("jitter stays within [1-j, 1+j] of the delay and under max_delay")
    func jitter() throws {
        let text = Self.runbook(
            Self.step("flaky", "    retry: { attempts: 30, delay: 10s, jitter: 0.5, max_delay: 12s }\n"))
        var sim = try Simulation(text, seed: 42) { _ in fail() }
        #expect(sim.run() == .failed)
        #expect(sim.retryDelays.count == 29)
        #expect(sim.retryDelays.allSatisfy { $0 >= .seconds(5) && $0 <= .seconds(12) })
        #expect(Set(sim.retryDelays).count > 5)
    }

    @Test("on_exit limits retries to listed codes; timeouts retry unless on_timeout is false")
    func retryFilters() throws {
        let onExit = Self.runbook(Self.step("a", "    retry: { attempts: 3, delay: 1s, on_exit: [75] }\n"))
        var sim = try Simulation(onExit) { _ in fail(1) }
        #expect(sim.run() == .failed)
        #expect(sim.started.count == 1)

        var tempfail = try Simulation(onExit) { _ in fail(75) }
        #expect(tempfail.run() == .failed)
        #expect(tempfail.started.count == 3)

        let noTimeoutRetry = Self.runbook(Self.step("a", "    retry: { attempts: 3, delay: 1s, on_timeout: false }\n"))
        var timedOut = try Simulation(noTimeoutRetry) { _ in timeout() }
        #expect(timedOut.run() == .failed)
        #expect(timedOut.started.count == 1)
        #expect(timedOut.machine.status(of: "a") == .timedOut)
    }

    @Test("a failed step rolls back succeeded steps in reverse completion order")
    func rollbackOrder() throws {
        let steps =
            Self.step("a", "    rollback: { run: [undo-a], timeout: 5s }\n")
            + Self.step("b", "    needs: []\n    rollback: { run: [undo-b], timeout: 5s }\n")
            + Self.step("c", "    needs: [a, b]\n    rollback: { run: [undo-c], timeout: 5s }\n")
            + Self.step("d", "    needs: [c]\n")
        // b finishes before a, so a completes last among a and b.
        var sim = try Simulation(Self.runbook(steps)) { request in
            switch request.step {
            case "a": ok(3)
            case "b": ok(1)
            case "d": request.phase == .main ? fail() : ok()
            default: ok()
            }
        }
        #expect(sim.run() == .failed)
        let rollbacks = sim.started.filter { $0.phase == .rollback }
        #expect(rollbacks.map(\.step) == ["c", "a", "b"])
        #expect(rollbacks.first?.command == .argv(["undo-c"]))
        #expect(sim.machine.status(of: "a") == .rolledBack)
        #expect(sim.machine.status(of: "d") == .failed)
    }

    @Test("recovering an interrupted run: only the steps that succeeded are rolled back, newest first")
    func recoverInterrupted() throws {
        let steps =
            Self.step("a", "    rollback: { run: [undo-a], timeout: 5s }\n")
            + Self.step("b", "    rollback: { run: [undo-b], timeout: 5s }\n")
            + Self.step("c", "    rollback: { run: [undo-c], timeout: 5s }\n")
        let rollback = Self.runbook(steps, policy: "policy:\n  on_interrupt: rollback\n  on_failure: stop\n")
        var sim = try Simulation(rollback) { _ in ok() }
        #expect(sim.run(startWith: .recoverInterrupted(succeeded: ["a", "b"])) == .interrupted)
        #expect(sim.started.map(\.step) == ["b", "a"])
        #expect(sim.started.allSatisfy { $0.phase == .rollback })
        #expect(sim.machine.status(of: "a") == .rolledBack)

        var failing = try Simulation(rollback) { request in request.step == "b" ? fail() : ok() }
        #expect(failing.run(startWith: .recoverInterrupted(succeeded: ["a", "b"])) == .rollbackFailed)
        #expect(failing.started.map(\.step) == ["b", "a"], "a failed rollback does not stop the others")

        var recordOnly = try Simulation(Self.runbook(steps)) { _ in ok() }
        #expect(recordOnly.run(startWith: .recoverInterrupted(succeeded: ["a"])) == .interrupted)
        #expect(recordOnly.started.isEmpty)
    }

    @Test("on_failure: stop ends the run without rollback")
    func stopWithoutRollback() throws {
        let text = Self.runbook(
            Self.step("a", "    rollback: { run: [undo], timeout: 5s }\n") + Self.step("b"),
            policy: "policy:\n  on_failure: stop\n")
        var sim = try Simulation(text) { request in request.step == "b" ? fail() : ok() }
        #expect(sim.run() == .failed)
        #expect(!sim.started.contains { $0.phase == .rollback })
        #expect(sim.machine.status(of: "a") == .succeeded)
    }

    @Test("a failed rollback (after its own retries) ends as rollback_failed, and the other rollbacks still run")
    func rollbackFailed() throws {
        let steps =
            Self.step("a", "    rollback: { run: [undo-a], timeout: 5s }\n")
            + Self.step("b", "    rollback: { run: [undo-b], timeout: 5s, retry: { attempts: 2, delay: 1s } }\n")
            + Self.step("c")
        var sim = try Simulation(Self.runbook(steps)) { request in
            if request.step == "c" { return fail() }
            if request.phase == .rollback, request.step == "b" { return fail() }
            return ok()
        }
        #expect(sim.run() == .rollbackFailed)
        #expect(
            sim.started.filter { $0.phase == .rollback }.map { "\($0.step)#\($0.attempt)" } == ["b#1", "b#2", "a#1"])
        #expect(sim.machine.status(of: "b") == .rollbackFailed)
        #expect(sim.machine.status(of: "a") == .rolledBack)
    }

    @Test("a failure stops the other running steps before rolling back; pending steps are not run")
    func failureCancelsSiblings() throws {
        let steps =
            Self.step("slow", "    needs: []\n    rollback: { run: [undo], timeout: 5s }\n")
            + Self.step("bad", "    needs: []\n")
            + Self.step("after", "    needs: [slow, bad]\n")
        var sim = try Simulation(Self.runbook(steps)) { request in
            request.step == "bad" ? fail(1, after: 1) : ok(60)
        }
        #expect(sim.run() == .failed)
        #expect(sim.log.contains("1s stop slow"))
        #expect(sim.machine.status(of: "slow") == .cancelled)
        #expect(sim.machine.status(of: "after") == .notRun)
        #expect(!sim.started.contains { $0.phase == .rollback })
    }

    @Test("when: a false condition skips the step; later steps read its status")
    func whenSkips() throws {
        let steps =
            Self.step("probe") + Self.step("fix", "    when: steps.probe.stdout == 'broken'\n")
            + Self.step("report", "    needs: [fix]\n    when: steps.fix.status == 'skipped'\n")
        var sim = try Simulation(Self.runbook(steps)) { request in
            ok(stdout: request.step == "probe" ? "healthy\n" : "")
        }
        #expect(sim.run() == .succeeded)
        #expect(sim.started.map(\.step) == ["probe", "report"])
        #expect(sim.machine.status(of: "fix") == .skipped)
        #expect(sim.machine.skipReasons["fix"] == "when is false: steps.probe.stdout == 'broken'")
    }

    @Test("continue_on_failure: the run goes on and later steps can see the failure")
    func continueOnFailure() throws {
        let steps =
            Self.step("optional", "    continue_on_failure: true\n")
            + Self.step("next", "    when: steps.optional.exit_code == 3\n")
        var sim = try Simulation(Self.runbook(steps)) { request in request.step == "optional" ? fail(3) : ok() }
        #expect(sim.run() == .succeeded)
        #expect(sim.machine.status(of: "optional") == .failed)
        #expect(sim.machine.status(of: "next") == .succeeded)
    }

    @Test("the run deadline stops running steps, rolls back, and ends as timed_out")
    func deadline() throws {
        let steps = Self.step("a", "    rollback: { run: [undo], timeout: 5s }\n") + Self.step("hang")
        var sim = try Simulation(Self.runbook(steps, policy: "policy:\n  timeout: 30s\n")) { request in
            request.step == "hang" && request.phase == .main ? ok(3600) : ok(1)
        }
        #expect(sim.run() == .timedOut)
        #expect(sim.log.contains("30s stop hang"))
        #expect(sim.machine.status(of: "a") == .rolledBack)
        #expect(sim.machine.status(of: "hang") == .cancelled)
    }

    @Test("cancel mid-step tears the step down, then rolls back")
    func cancel() throws {
        let steps = Self.step("a", "    rollback: { run: [undo], timeout: 5s }\n") + Self.step("b") + Self.step("c")
        var sim = try Simulation(Self.runbook(steps)) { request in
            request.step == "b" && request.phase == .main ? ok(100) : ok(1)
        }
        #expect(sim.run(cancelAt: .seconds(10)) == .cancelled)
        #expect(sim.log.contains("10s stop b"))
        #expect(sim.machine.status(of: "a") == .rolledBack)
        #expect(sim.machine.status(of: "c") == .notRun)
    }

    @Test("a cancel during a retry wait cancels the step without starting another attempt")
    func cancelDuringRetryWait() throws {
        let text = Self.runbook(Self.step("a", "    retry: { attempts: 5, delay: 1m, jitter: false }\n"))
        var sim = try Simulation(text) { _ in fail() }
        #expect(sim.run(cancelAt: .seconds(30)) == .cancelled)
        #expect(sim.started.count == 1)
        #expect(sim.machine.status(of: "a") == .cancelled)
    }

    @Test("templates render step outputs and params into exactly one argument each")
    func rendering() throws {
        let steps =
            "  - id: owner\n    run: [get-owner]\n    timeout: 5s\n    readonly: true\n"
            + "  - id: act\n    run: [echo, '{{ params.target }}', 'owner={{ steps.owner.stdout }}']\n    env: { RUN: '{{ run.id }}' }\n    timeout: 5s\n"
        let text = "runbook: sim\nparams:\n  target: { type: string }\nsteps:\n" + steps
        var sim = try Simulation(text, params: ["target": .string("x; rm -rf / $(touch pwned)")]) { request in
            ok(stdout: request.step == "owner" ? "ReplicaSet/api-1\n" : "")
        }
        #expect(sim.run() == .succeeded)
        let act = try #require(sim.started.last)
        #expect(act.command == .argv(["echo", "x; rm -rf / $(touch pwned)", "owner=ReplicaSet/api-1"]))
        #expect(act.environment["RUN"] == "r1")
        #expect(act.environment["MEDIC_STEP_ID"] == "act")
        #expect(act.environment["PATH"] == "/usr/bin:/bin")
    }

    @Test("a launch failure is not retried")
    func launchFailure() throws {
        let text = Self.runbook(Self.step("a", "    retry: { attempts: 3, delay: 1s }\n"))
        var sim = try Simulation(text) { _ in
            (AttemptResult(termination: .launchFailed("could not start: a: not found")), .zero)
        }
        #expect(sim.run() == .failed)
        #expect(sim.started.count == 1)
    }
}
