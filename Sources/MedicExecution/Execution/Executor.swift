import Foundation
import MedicCore

/// Drives a `RunStateMachine` with a real `ProcessRunner` and an injected clock, and records every event to an
/// `AuditLog` before reporting it as done.
public struct Executor: Sendable {
    public var runner: any ProcessRunner
    public var clock: any Clock<Duration>
    public var audit: any AuditLog
    public var maxParallel: Int
    /// Who started the run: `operator:<user>`, `alert`, `api`.
    public var initiator: String
    /// The wall clock of the records and the report (`clock` paces timeouts and retry delays).
    public var now: @Sendable () -> Date

    public init(
        runner: any ProcessRunner = SubprocessRunner(), clock: any Clock<Duration> = ContinuousClock(),
        audit: any AuditLog, maxParallel: Int = 4, initiator: String = "operator",
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.now = now
        self.runner = runner
        self.clock = clock
        self.audit = audit
        self.maxParallel = maxParallel
        self.initiator = initiator
    }

    /// Something worth showing an operator while the run goes on.
    public enum Progress: Sendable {
        case attemptStarted(step: String, phase: AttemptPhase, attempt: Int, elapsed: Duration)
        case attemptFinished(step: String, phase: AttemptPhase, attempt: Int, result: AttemptResult, elapsed: Duration)
        case retryScheduled(step: String, phase: AttemptPhase, nextAttempt: Int, delay: Duration)
        case stepSkipped(step: String, reason: String)
        case stopping(steps: [String])
        case rollbackStarted(steps: [String])
        case finished(RunOutcome, elapsed: Duration)
    }

    /// The audit log failed; the run was stopped and rolled back where possible.
    public struct AuditFailure: Error, CustomStringConvertible {
        public var underlying: any Error
        public var report: RunReport
        public var description: String { "audit log write failed: \(underlying)" }
    }

    /// Runs `prepared` to its end. `cancel` asks for a clean stop (running steps torn down, then rollback);
    /// `fence` for a stop without rollback (the replica lost its lease on a shared store).
    /// `provenance` adds fields to the `run.started` record (`runbook_sha256`, `alert_payload_sha256`, ...);
    /// `recordStart: false` when the caller recorded `run.started` already. `startWith` is `.start`, or
    /// `.recoverInterrupted` to roll back a run a dead Medic left behind; `finishFields` join `run.finished`.
    public func run(
        _ prepared: PreparedRun, cancel: StopSignal = StopSignal(), fence: StopSignal? = nil,
        provenance: [String: JSONValue] = [:],
        recordStart: Bool = true, startWith: RunStateMachine.Event = .start, finishFields: [String: JSONValue] = [:],
        verification: VerificationPlan? = nil, recordFinish: Bool = true,
        progress: @escaping @Sendable (Progress) -> Void = { _ in }
    ) async throws(AuditFailure) -> RunReport {
        let redactor = prepared.redactor
        let runID = prepared.context.runID
        var machine = RunStateMachine(
            runbook: prepared.runbook, graph: prepared.graph, context: prepared.context,
            baseEnvironment: prepared.baseEnvironment, maxParallel: maxParallel,
            seed: UInt64.random(in: 0...UInt64.max), targets: prepared.targets,
            environmentOverrides: prepared.environmentOverrides)
        let now = self.now
        let startedAt = now()
        let start = ContinuousClock.now
        var attemptStarts: [String: Date] = [:]
        var stops: [String: StopSignal] = [:]
        var auditError: (any Error)?
        let audit = self.audit
        let runner = self.runner
        let clock = self.clock

        // Group commit: records are collected and committed together, one transaction (one fsync) at a time,
        // always before a process starts (write-ahead: no command runs unless its record is durable) and
        // before the run waits for anything. A crash loses at most what was decided since the last action.
        var unflushed: [AuditEvent] = []
        func record(_ kind: AuditKind, _ body: [String: JSONValue]) {
            guard auditError == nil else { return }
            unflushed.append(AuditEvent(time: now(), kind: kind, runID: runID, body: body))
        }
        func flush() async {
            let batch = unflushed
            unflushed = []
            guard auditError == nil, !batch.isEmpty else { return }
            do {
                try await audit.append(batch: batch)
            } catch {
                auditError = error
            }
        }

        // A run that waited (for approval, in a queue) had its start recorded when it began to wait.
        if recordStart {
            record(.runStarted, prepared.startedRecord(initiator: initiator, provenance: provenance))
            await flush()
        }

        // Child tasks (attempts, timers, the cancel watcher) return the event they produced; the loop below is
        // the only place that touches the state machine.
        await withTaskGroup(of: RunStateMachine.Event?.self) { group in
            group.addTask {
                await cancel.wait()
                return Task.isCancelled ? nil : .cancelRequested
            }
            if let fence {
                group.addTask {
                    await fence.wait()
                    return Task.isCancelled ? nil : .fenced
                }
            }
            var pending = machine.handle(startWith)
            if auditError != nil { pending += machine.handle(.cancelRequested) }
            while true {
                for action in pending {
                    switch action {
                    case .startAttempt(let request) where auditError != nil && request.phase == .main:
                        group.addTask { Self.notStarted(request) }
                    case .startAttempt(let request):
                        let key = "\(request.phase.rawValue):\(request.step)#\(request.attempt)"
                        attemptStarts[key] = now()
                        let stop = StopSignal()
                        stops[request.step] = stop
                        var body: [String: JSONValue] = [
                            "step": .string(request.step), "phase": .string(request.phase.rawValue),
                            "attempt": JSONValue(request.attempt),
                            "timeout_ms": request.timeout.map { JSONValue(Int($0.milliseconds)) } ?? .null,
                            "env": .array(request.environment.keys.sorted().map(JSONValue.string)),
                        ]
                        switch request.command {
                        case .argv(let argv): body["argv"] = .array(redactor.redact(argv).map(JSONValue.string))
                        case .shell(let script): body["shell"] = .string(script)
                        }
                        // Where it runs, for auditors (absent: on the Medic host).
                        if let target = request.target { body["target"] = .string(redactor.redact(target.description)) }
                        record(.attemptStarted, body)
                        await flush()
                        if auditError != nil && request.phase == .main {
                            group.addTask { Self.notStarted(request) }
                            continue
                        }
                        // Fenced meanwhile (the replica lost its lease): nothing more starts, rollbacks included.
                        if fence?.isTriggered == true {
                            group.addTask { Self.notStarted(request, because: "not started: this replica lost its lease") }
                            continue
                        }
                        progress(
                            .attemptStarted(
                                step: request.step, phase: request.phase, attempt: request.attempt,
                                elapsed: ContinuousClock.now - start))
                        group.addTask {
                            let result = await runner.run(request, stop: stop)
                            return .attemptFinished(step: request.step, phase: request.phase, result: result)
                        }
                    case .scheduleRetry(let step, let phase, let next, let delay):
                        record(
                            .retryScheduled,
                            [
                                "step": .string(step), "phase": .string(phase.rawValue),
                                "next_attempt": JSONValue(next),
                                "delay_ms": JSONValue(Int(delay.milliseconds)),
                            ])
                        progress(.retryScheduled(step: step, phase: phase, nextAttempt: next, delay: delay))
                        group.addTask {
                            do {
                                try await clock.sleep(for: delay)
                                return .retryDue(step: step, phase: phase)
                            } catch {
                                return nil
                            }
                        }
                    case .scheduleDeadline(let after):
                        group.addTask {
                            do {
                                try await clock.sleep(for: after)
                                return .deadlineReached
                            } catch {
                                return nil
                            }
                        }
                    case .stopAttempts(let steps):
                        record(.runStopping, ["steps": .array(steps.map(JSONValue.string))])
                        progress(.stopping(steps: steps))
                        for step in steps { stops[step]?.trigger() }
                    case .stepSkipped(let step, let reason):
                        record(.stepSkipped, ["step": .string(step), "reason": .string(reason)])
                        progress(.stepSkipped(step: step, reason: reason))
                    case .stepFinished(let step, let status):
                        record(.stepFinished, ["step": .string(step), "status": .string(status.rawValue)])
                    case .rollbackStarted(let steps):
                        record(.rollbackStarted, ["steps": .array(steps.map(JSONValue.string))])
                        progress(.rollbackStarted(steps: steps))
                    case .rollbackFinished(let step, let succeeded):
                        record(.rollbackFinished, ["step": .string(step), "succeeded": .bool(succeeded)])
                    case .finished:
                        break
                    }
                }
                if machine.outcome != nil { break }
                await flush()
                guard let next = await group.next() else { break }
                guard let event = next else {
                    pending = []
                    continue
                }
                if case .attemptFinished(let step, let phase, let raw) = event {
                    // Redacted once, here: the machine, the audit log, progress and the report all see this copy.
                    let result = raw.redacted(by: redactor)
                    let attempt = machine.attemptNumber(of: step, phase: phase)
                    var body = result.jsonFields
                    body["step"] = .string(step)
                    body["phase"] = .string(phase.rawValue)
                    body["attempt"] = JSONValue(attempt)
                    record(.attemptFinished, body)
                    progress(
                        .attemptFinished(
                            step: step, phase: phase, attempt: attempt, result: result,
                            elapsed: ContinuousClock.now - start))
                    pending = machine.handle(.attemptFinished(step: step, phase: phase, result: result))
                } else {
                    pending = machine.handle(event)
                }
                // A failed audit write stops the run before its next step: record nothing more, roll back.
                if auditError != nil { pending += machine.handle(.cancelRequested) }
            }
            group.cancelAll()
        }
        let outcome = machine.outcome ?? .cancelled
        let finishedAt = now()
        var finished = finishFields
        if outcome == .succeeded, let verification {
            // Pending with the success itself: a crash after this commit cannot lose the verification.
            finished.merge(verification.finishedFields(startedAt: startedAt, finishedAt: finishedAt, redactor: redactor)) {
                _, plan in plan
            }
        }
        // A rollback of a run that ended long ago (`on_unverified: rollback`) adds to its records; the run has
        // its `run.finished` already.
        if recordFinish {
            record(
                .runFinished,
                [
                    "outcome": .string(outcome.rawValue),
                    "duration_ms": JSONValue(Int((ContinuousClock.now - start).milliseconds)),
                ].merging(finished) { current, _ in current })
        }
        await flush()
        progress(.finished(outcome, elapsed: ContinuousClock.now - start))
        let report = RunReport(
            runID: runID, runbook: prepared.runbook.id, outcome: outcome, startedAt: startedAt, finishedAt: finishedAt,
            params: prepared.displayedParams,
            steps: prepared.runbook.steps.map { step in
                func attempts(_ results: [AttemptResult], _ phase: AttemptPhase) -> [RunReport.Attempt] {
                    // The machine holds the results as redacted when they arrived.
                    results.enumerated().map { index, result in
                        RunReport.Attempt(
                            number: index + 1,
                            startedAt: attemptStarts["\(phase.rawValue):\(step.id)#\(index + 1)"] ?? startedAt,
                            result: result)
                    }
                }
                return RunReport.StepEntry(
                    id: step.id, status: machine.status(of: step.id), skipReason: machine.skipReasons[step.id],
                    attempts: attempts(machine.attempts[step.id] ?? [], .main),
                    rollbackAttempts: attempts(machine.rollbackAttempts[step.id] ?? [], .rollback),
                    hasRollback: step.rollback != nil)
            })
        if let auditError { throw AuditFailure(underlying: auditError, report: report) }
        return report
    }

    /// Nothing new starts once the audit log cannot record it; the machine hears at once that the attempt was
    /// cancelled. (Rollbacks still run: undoing beats recording.)
    static func notStarted(
        _ request: AttemptRequest, because reason: String = "not started: the audit log could not be written"
    ) -> RunStateMachine.Event? {
        .attemptFinished(
            step: request.step, phase: request.phase,
            result: AttemptResult(termination: .launchFailed(reason), cancelled: true))
    }
}
