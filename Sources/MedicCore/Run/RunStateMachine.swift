/// The semantics of one run as a plain value: it takes events (start, attempt finished, retry due, deadline,
/// cancel) and returns the actions to take. No processes, no clocks: the executor does the acting.
public struct RunStateMachine: Sendable {
    /// Something that happened.
    public enum Event: Sendable, Equatable {
        case start
        case attemptFinished(step: String, phase: AttemptPhase, result: AttemptResult)
        case retryDue(step: String, phase: AttemptPhase)
        case deadlineReached
        case cancelRequested
        /// This replica lost its lease on the shared store: tear down what runs and stop, without rolling back
        /// (another replica may own the target by now). The run ends `interrupted`.
        case fenced
        /// Instead of `.start`, for a run whose Medic process died: these steps had succeeded, in this order
        /// (their outputs are in `context`); roll them back as a failure would (`policy.on_interrupt: rollback`).
        case recoverInterrupted(succeeded: [String])
        /// Instead of `.start`, for a run that succeeded and ended unverified: roll back these steps (in this
        /// order of success) as a failure would (`verify.on_unverified: rollback`).
        case rollBackUnverified(succeeded: [String])
    }

    /// Something the executor must do (or report).
    public enum Action: Sendable, Equatable {
        case startAttempt(AttemptRequest)
        /// Wait `delay`, then send `.retryDue`.
        case scheduleRetry(step: String, phase: AttemptPhase, nextAttempt: Int, delay: Duration)
        /// Wait `after`, then send `.deadlineReached`.
        case scheduleDeadline(after: Duration)
        /// Tear down the running attempts of these steps; each reports `.attemptFinished` with `cancelled`.
        case stopAttempts([String])
        case stepSkipped(step: String, reason: String)
        case stepFinished(step: String, status: StepReportStatus)
        case rollbackStarted(steps: [String])
        case rollbackFinished(step: String, succeeded: Bool)
        case finished(RunOutcome)
    }

    /// Why the run stopped early.
    public enum StopReason: Sendable, Equatable {
        case stepFailed(String)
        case deadline
        case cancelled
        /// Medic stopped mid-run (crash, kill -9); found by the next start.
        case interrupted
        /// The run succeeded and was not proven (`verify`, `on_unverified: rollback`).
        case unverified
        /// The replica lost its lease (`Event.fenced`): nothing more runs, rollbacks included.
        case fenced
    }

    private enum Phase: Sendable, Equatable {
        case idle, running, draining(StopReason), rollingBack(StopReason), finished(RunOutcome)
    }

    private enum StepState: Sendable, Equatable {
        case pending
        case running(attempt: Int)
        case waitingRetry(nextAttempt: Int)
        case succeeded, failed, timedOut, skipped, cancelled
    }

    private enum RollbackState: Sendable, Equatable {
        case none, running(attempt: Int), waitingRetry(nextAttempt: Int), succeeded, failed
    }

    public let runbook: Runbook
    public let graph: StepGraph
    public let maxParallel: Int
    /// What templates and `when` read; grows as steps finish.
    public var context: RunContext
    private let baseEnvironment: [String: String]
    private var phase: Phase = .idle
    private var states: [String: StepState] = [:]
    private var rollbacks: [String: RollbackState] = [:]
    private var completionOrder: [String] = []
    private var rollbackQueue: [String] = []
    private var rollbackFailed = false
    private var random: SplitMix64
    private let stepsByID: [String: Step]
    /// Pending steps whose dependencies are all done, in topological order.
    private var ready: [String]
    /// For each pending step, how many of its dependencies are not done yet.
    private var unmet: [String: Int]
    private let dependents: [String: [String]]
    private let position: [String: Int]
    private var runningCount = 0
    private(set) public var attempts: [String: [AttemptResult]] = [:]
    private(set) public var rollbackAttempts: [String: [AttemptResult]] = [:]
    private(set) public var skipReasons: [String: String] = [:]

    /// - Parameters:
    ///   - baseEnvironment: what every step's environment starts from (`PATH`, `LANG`, `inherit_env`).
    ///   - seed: seeds the jitter of retry delays (tests pass a fixed one).
    /// Steps that run on another host (a rollback runs where its step ran).
    let targets: [String: ResolvedTarget]
    let environmentOverrides: [String: String]

    public init(
        runbook: Runbook, graph: StepGraph, context: RunContext, baseEnvironment: [String: String],
        maxParallel: Int = 4, seed: UInt64 = 0x6D65_6469_63, targets: [String: ResolvedTarget] = [:],
        environmentOverrides: [String: String] = [:]
    ) {
        self.targets = targets
        self.environmentOverrides = environmentOverrides
        self.runbook = runbook
        self.graph = graph
        self.context = context
        self.baseEnvironment = baseEnvironment
        self.maxParallel = max(1, maxParallel)
        self.random = SplitMix64(seed: seed)
        var byID: [String: Step] = [:]
        for step in runbook.steps where byID[step.id] == nil { byID[step.id] = step }
        self.stepsByID = byID
        var dependents: [String: [String]] = [:]
        var unmet: [String: Int] = [:]
        for id in graph.ids {
            let needs = graph.dependencies[id, default: []]
            unmet[id] = needs.count
            for need in needs { dependents[need, default: []].append(id) }
        }
        self.dependents = dependents
        self.unmet = unmet
        self.position = Dictionary(uniqueKeysWithValues: graph.topologicalOrder.enumerated().map { ($1, $0) })
        self.ready = graph.topologicalOrder.filter { unmet[$0] == 0 }
        for id in graph.ids {
            states[id] = .pending
            rollbacks[id] = RollbackState.none
        }
    }

    public var outcome: RunOutcome? {
        if case .finished(let outcome) = phase { return outcome }
        return nil
    }

    /// Steps with an attempt running right now.
    public var runningSteps: [String] {
        graph.ids.filter { if case .running = states[$0] { true } else { false } }
    }

    public mutating func handle(_ event: Event) -> [Action] {
        switch event {
        case .start:
            guard phase == .idle else { return [] }
            phase = .running
            var actions: [Action] = []
            if let timeout = runbook.policy.timeout { actions.append(.scheduleDeadline(after: timeout)) }
            return actions + advance()
        case .attemptFinished(let step, .main, let result):
            return mainAttemptFinished(step, result)
        case .attemptFinished(let step, .rollback, let result):
            return rollbackAttemptFinished(step, result)
        case .retryDue(let step, .main):
            guard case .waitingRetry(let next) = states[step] else { return [] }
            guard phase == .running else { return [] }
            states[step] = .running(attempt: next)
            runningCount += 1
            return [.startAttempt(request(for: step, phase: .main, attempt: next))]
        case .retryDue(let step, .rollback):
            guard case .waitingRetry(let next) = rollbacks[step], case .rollingBack = phase else { return [] }
            rollbacks[step] = .running(attempt: next)
            return [.startAttempt(request(for: step, phase: .rollback, attempt: next))]
        case .deadlineReached:
            guard phase == .running else { return [] }
            return beginStop(.deadline)
        case .cancelRequested:
            guard phase == .running else { return [] }
            return beginStop(.cancelled)
        case .fenced:
            switch phase {
            case .running, .draining:
                return beginStop(.fenced)
            case .rollingBack:
                // The rollback step that runs is stopped and no other starts.
                phase = .rollingBack(.fenced)
                rollbackQueue = []
                let running = graph.ids.filter { if case .running = rollbacks[$0] { true } else { false } }
                return running.isEmpty ? nextRollback() : [.stopAttempts(running)]
            case .idle, .finished:
                return []
            }
        case .recoverInterrupted(let succeeded):
            return undo(succeeded, reason: .interrupted)
        case .rollBackUnverified(let succeeded):
            return undo(succeeded, reason: .unverified)
        }
    }

    // MARK: Running steps

    /// Marks `id` as done for its dependents: those whose last dependency this was become ready.
    private mutating func release(_ id: String) {
        for dependent in dependents[id, default: []] {
            unmet[dependent, default: 0] -= 1
            if unmet[dependent] == 0, states[dependent] == .pending {
                let rank = position[dependent] ?? 0
                let index = ready.firstIndex { (position[$0] ?? 0) > rank } ?? ready.endIndex
                ready.insert(dependent, at: index)
            }
        }
    }

    private mutating func advance() -> [Action] {
        guard phase == .running else { return [] }
        var actions: [Action] = []
        var index = 0
        while index < ready.count {
            let id = ready[index]
            let step = stepsByID[id]!
            if let condition = step.when, !condition.evaluate(in: context) {
                ready.remove(at: index)
                states[id] = .skipped
                let reason = "when is false: \(condition.source)"
                skipReasons[id] = reason
                context.steps[id] = StepOutputs(stdout: "", stderr: "", exitCode: -1, status: "skipped")
                actions.append(.stepSkipped(step: id, reason: reason))
                release(id)
                // Steps released by the skip may come earlier in the order: start over.
                index = 0
                continue
            }
            guard runningCount < maxParallel else { break }
            ready.remove(at: index)
            states[id] = .running(attempt: 1)
            runningCount += 1
            actions.append(.startAttempt(request(for: id, phase: .main, attempt: 1)))
        }
        if ready.isEmpty, runningCount == 0,
            !states.values.contains(where: { state in
                if case .waitingRetry = state { return true }
                return false
            })
        {
            actions += finish(.succeeded)
        }
        return actions
    }

    private mutating func mainAttemptFinished(_ id: String, _ result: AttemptResult) -> [Action] {
        guard case .running(let attempt) = states[id] else { return [] }
        runningCount -= 1
        attempts[id, default: []].append(result)
        let step = stepsByID[id]!
        if result.succeeded {
            states[id] = .succeeded
            completionOrder.append(id)
            record(id, result, status: "succeeded")
            release(id)
            return [.stepFinished(step: id, status: .succeeded)] + (phase == .running ? advance() : drainIfIdle())
        }
        if result.cancelled {
            states[id] = .cancelled
            record(id, result, status: "cancelled")
            return [.stepFinished(step: id, status: .cancelled)] + drainIfIdle()
        }
        if phase == .running, let retry = step.body.retry, attempt < retry.attempts, Self.isRetryable(result, retry) {
            states[id] = .waitingRetry(nextAttempt: attempt + 1)
            return [
                .scheduleRetry(
                    step: id, phase: .main, nextAttempt: attempt + 1, delay: delay(retry, afterAttempt: attempt))
            ]
        }
        let status: StepReportStatus = result.timedOut ? .timedOut : .failed
        states[id] = result.timedOut ? .timedOut : .failed
        record(id, result, status: status.rawValue)
        var actions: [Action] = [.stepFinished(step: id, status: status)]
        if phase != .running { return actions + drainIfIdle() }
        if step.continueOnFailure {
            release(id)
            return actions + advance()
        }
        actions += beginStop(.stepFailed(id))
        return actions
    }

    private mutating func record(_ id: String, _ result: AttemptResult, status: String) {
        context.steps[id] = StepOutputs(result, status: status)
    }

    static func isRetryable(_ result: AttemptResult, _ retry: RetryPolicy) -> Bool {
        // Another attempt must not start while the last one may still run on its target.
        if result.cancelled || result.killUnconfirmed != nil { return false }
        if result.unreachable { return true }
        if result.timedOut { return retry.onTimeout }
        switch result.termination {
        case .launchFailed: return false
        case .exited(let code): return retry.onExit.map { $0.contains(Int(code)) } ?? true
        case .signaled: return retry.onExit == nil
        }
    }

    /// The wait before retry number `attempt` (1 = after the first attempt): `delay`, doubled per retry when
    /// exponential, capped at `max_delay`, scaled by a random factor in [1 - jitter, 1 + jitter], capped again.
    mutating func delay(_ retry: RetryPolicy, afterAttempt attempt: Int) -> Duration {
        var milliseconds = Double(retry.delay.milliseconds)
        if retry.backoff == .exponential {
            milliseconds *= Double(1 << min(attempt - 1, 30))
        }
        let cap = retry.maxDelay.map { Double($0.milliseconds) }
        if let cap { milliseconds = min(milliseconds, cap) }
        if retry.jitter > 0 {
            let factor = 1 - retry.jitter + 2 * retry.jitter * random.nextUnit()
            milliseconds *= factor
        }
        if let cap { milliseconds = min(milliseconds, cap) }
        return .milliseconds(Int64(milliseconds.rounded()))
    }

    // MARK: Stopping and rolling back

    private mutating func beginStop(_ reason: StopReason) -> [Action] {
        phase = .draining(reason)
        var actions: [Action] = []
        for id in graph.ids {
            if case .waitingRetry = states[id] {
                states[id] = .cancelled
                actions.append(.stepFinished(step: id, status: .cancelled))
            }
        }
        let running = runningSteps
        if !running.isEmpty { actions.append(.stopAttempts(running)) }
        return actions + drainIfIdle()
    }

    /// A run that ended before (interrupted, unverified) begins its rollback: `succeeded` had succeeded.
    private mutating func undo(_ succeeded: [String], reason: StopReason) -> [Action] {
        guard phase == .idle else { return [] }
        for id in succeeded where states[id] != nil && states[id] != .succeeded {
            states[id] = .succeeded
            completionOrder.append(id)
        }
        phase = .draining(reason)
        return drainIfIdle()
    }

    private mutating func drainIfIdle() -> [Action] {
        guard case .draining(let reason) = phase, runningCount == 0 else { return [] }
        let candidates = completionOrder.reversed().filter { stepsByID[$0]?.rollback != nil }
        let rollsBack: Bool
        switch reason {
        case .interrupted: rollsBack = runbook.policy.onInterrupt == .rollback
        case .unverified: rollsBack = runbook.verify?.onUnverified == .rollback
        case .stepFailed, .deadline, .cancelled: rollsBack = runbook.policy.onFailure == .rollback
        case .fenced: rollsBack = false
        }
        guard rollsBack, !candidates.isEmpty else {
            return finish(Self.outcome(for: reason, rollbackFailed: false))
        }
        phase = .rollingBack(reason)
        rollbackQueue = Array(candidates)
        return [.rollbackStarted(steps: rollbackQueue)] + nextRollback()
    }

    private mutating func nextRollback() -> [Action] {
        guard case .rollingBack(let reason) = phase else { return [] }
        guard !rollbackQueue.isEmpty else { return finish(Self.outcome(for: reason, rollbackFailed: rollbackFailed)) }
        let id = rollbackQueue.removeFirst()
        rollbacks[id] = .running(attempt: 1)
        return [.startAttempt(request(for: id, phase: .rollback, attempt: 1))]
    }

    private mutating func rollbackAttemptFinished(_ id: String, _ result: AttemptResult) -> [Action] {
        guard case .running(let attempt) = rollbacks[id] else { return [] }
        rollbackAttempts[id, default: []].append(result)
        if result.succeeded {
            rollbacks[id] = .succeeded
            return [.rollbackFinished(step: id, succeeded: true)] + nextRollback()
        }
        if let retry = stepsByID[id]?.rollback?.retry, attempt < retry.attempts, Self.isRetryable(result, retry) {
            rollbacks[id] = .waitingRetry(nextAttempt: attempt + 1)
            return [
                .scheduleRetry(
                    step: id, phase: .rollback, nextAttempt: attempt + 1, delay: delay(retry, afterAttempt: attempt))
            ]
        }
        rollbacks[id] = .failed
        rollbackFailed = true
        // Keep going: undo as much as possible, then escalate as rollback_failed.
        return [.rollbackFinished(step: id, succeeded: false)] + nextRollback()
    }

    static func outcome(for reason: StopReason, rollbackFailed: Bool) -> RunOutcome {
        if rollbackFailed { return .rollbackFailed }
        switch reason {
        case .stepFailed: return .failed
        case .deadline: return .timedOut
        case .cancelled: return .cancelled
        case .interrupted, .unverified, .fenced: return .interrupted
        }
    }

    private mutating func finish(_ outcome: RunOutcome) -> [Action] {
        phase = .finished(outcome)
        return [.finished(outcome)]
    }

    // MARK: Reporting

    /// The number of the attempt of `id` that is running (or last ran) in `phase`.
    public func attemptNumber(of id: String, phase: AttemptPhase) -> Int {
        switch phase {
        case .main:
            if case .running(let attempt) = states[id] { return attempt }
            return attempts[id]?.count ?? 0
        case .rollback:
            if case .running(let attempt) = rollbacks[id] { return attempt }
            return rollbackAttempts[id]?.count ?? 0
        }
    }

    /// The final status of a step, as reported once the run has finished.
    public func status(of id: String) -> StepReportStatus {
        switch rollbacks[id] {
        case .succeeded: return .rolledBack
        case .failed: return .rollbackFailed
        default: break
        }
        switch states[id] {
        case .succeeded: return .succeeded
        case .failed: return .failed
        case .timedOut: return .timedOut
        case .skipped: return .skipped
        case .cancelled, .running, .waitingRetry: return .cancelled
        case .pending, nil: return .notRun
        }
    }

    // MARK: Rendering

    /// Renders the step (or its rollback) for attempt `attempt` against the outputs known now.
    public func request(for id: String, phase: AttemptPhase, attempt: Int) -> AttemptRequest {
        let step = stepsByID[id]!
        let body = phase == .rollback ? step.rollback! : step.body
        // A remote step gets its own `env` and a standard PATH, never the Medic host's PATH, LANG or
        // `inherit_env` values (which may hold Medic's own credentials).
        var environment = targets[id] == nil ? baseEnvironment : ["PATH": PreparedRun.defaultPath]
        for entry in body.env {
            environment[entry.name] = entry.value.render(in: context)
        }
        environment["MEDIC_RUN_ID"] = context.runID
        environment["MEDIC_STEP_ID"] = id
        environment["MEDIC_ATTEMPT"] = String(attempt)
        environment.merge(environmentOverrides) { _, override in override }
        let command: Command
        switch body.action {
        case .run(let arguments): command = .argv(arguments.map { $0.render(in: context) })
        case .shell(let script): command = .shell(script)
        }
        return AttemptRequest(
            step: id, phase: phase, attempt: attempt, command: command, environment: environment,
            workdir: body.workdir.map { $0.render(in: context) }, timeout: body.timeout,
            killGrace: body.killGrace ?? StepBody.defaultKillGrace, target: targets[id])
    }
}

/// A small, seedable random number generator (SplitMix64), so retry jitter is reproducible in tests.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform value in [0, 1).
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) / Double(1 << 53)
    }
}
