import Foundation
import MedicCore

/// The engine between intake and execution: records each alert, matches it, puts every match through the
/// safety policies, records every decision, and runs what may run, in the background, bounded.
///
/// `receive` returns only after everything it decided is committed to the audit log. `run()` is the
/// long-running part (a service's body): it executes queued runs until cancelled.
public actor Dispatcher {
    public struct Configuration: Sendable {
        public var maxConcurrentRuns: Int
        /// Runs waiting to execute; beyond this, matches are recorded as `suppressed: queue full`.
        public var queueCapacity: Int
        public var globalShadow: Bool
        public var maxParallelSteps: Int
        /// On shutdown, how long running runs may go on before they are stopped (torn down, rolled back).
        public var shutdownGrace: Duration

        public init(
            maxConcurrentRuns: Int = 8, queueCapacity: Int = 256, globalShadow: Bool = false, maxParallelSteps: Int = 4,
            shutdownGrace: Duration = .seconds(30)
        ) {
            self.shutdownGrace = shutdownGrace
            self.maxConcurrentRuns = maxConcurrentRuns
            self.queueCapacity = queueCapacity
            self.globalShadow = globalShadow
            self.maxParallelSteps = maxParallelSteps
        }
    }

    /// What became of one alert.
    public struct AlertOutcome: Sendable, Equatable {
        public struct Decision: Sendable, Equatable {
            public var runbook: String
            /// `run`, `shadowed`, `queued`, `awaiting_approval` or `suppressed`.
            public var decision: String
            public var runID: String?
            public var reason: String?
        }

        public var fingerprint: String
        public var status: String
        public var decisions: [Decision]
    }

    struct Work: Sendable {
        var runID: String
        var prepared: PreparedRun
        var candidate: PolicyGate.Candidate
        /// `run.started` was recorded when the run began to wait (approval, queue); the executor must not
        /// record it again.
        var startRecorded = false
    }

    public let configuration: Configuration
    private let audit: any AuditLog
    private let runner: any ProcessRunner
    private let clock: any Clock<Duration>
    private let environment: [String: String]
    private var matcher: AlertMatcher
    private var gate: PolicyGate
    private let queue: AsyncStream<Work>
    private let enqueue: AsyncStream<Work>.Continuation
    private var queued = 0
    private var waitingApproval: [String: Work] = [:]
    private var cancels: [String: StopSignal] = [:]
    private var candidates: [String: PolicyGate.Candidate] = [:]
    private var shuttingDown = false
    /// Triggered by `shutDown()`: stop starting runs, give running ones the grace period, then stop them.
    public nonisolated let shutdownSignal = StopSignal()

    /// - Parameter history: audit records to rebuild cooldowns, dedup, locks and breakers from.
    public init(
        runbooks: [Runbook], audit: any AuditLog, history: [AuditRecord] = [],
        configuration: Configuration = Configuration(),
        environment: [String: String], runner: any ProcessRunner = SubprocessRunner(),
        clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.configuration = configuration
        self.audit = audit
        self.runner = runner
        self.clock = clock
        self.environment = environment
        matcher = AlertMatcher(runbooks: runbooks, globalShadow: configuration.globalShadow)
        var gate = PolicyGate(
            configuration: .init(
                maxConcurrentRuns: configuration.maxConcurrentRuns, globalShadow: configuration.globalShadow))
        gate.replay(history, runbooks: runbooks)
        self.gate = gate
        (queue, enqueue) = AsyncStream.makeStream(of: Work.self)
    }

    /// Replaces the runbook set (reload); runs already decided keep the runbook they were decided with.
    public func replaceRunbooks(_ runbooks: [Runbook]) {
        matcher = AlertMatcher(runbooks: runbooks, globalShadow: configuration.globalShadow)
    }

    /// Records, matches and decides every alert; returns once all of it is committed. Throws only when the
    /// audit log cannot be written (the caller answers 503 so the sender retries).
    public func receive(_ alerts: [Alert], payloadDigest: String, now: Date = Date()) async throws -> [AlertOutcome] {
        var outcomes: [AlertOutcome] = []
        for alert in alerts {
            // Everything decided about one alert is committed in one transaction, and only then do its runs
            // start: a crash never leaves a run without the records that explain it.
            var records: [AuditEvent] = []
            var ready: [Work] = []
            records.append(
                AuditEvent(
                    time: now, kind: "alert.received", runID: "",
                    body: [
                        "source": .string(alert.source.rawValue), "status": .string(alert.status.rawValue),
                        "fingerprint": .string(alert.fingerprint), "payload_sha256": .string(payloadDigest),
                        "labels": .object(alert.labels.mapValues(JSONValue.string)),
                        "annotations": .object(alert.annotations.mapValues(JSONValue.string)),
                        "starts_at": JSONValue(alert.startsAt.map(RFC3339.format)),
                        "receiver": JSONValue(alert.receiver),
                    ]))
            var outcome = AlertOutcome(fingerprint: alert.fingerprint, status: alert.status.rawValue, decisions: [])
            if alert.status == .resolved {
                let (cancelled, lastRun) = gate.resolved(alert)
                for runID in cancelled {
                    records += finishWaiting(runID, outcome: .cancelled, reason: "the alert resolved", now: now)
                }
                records.append(
                    AuditEvent(
                        time: now, kind: "alert.resolved", runID: lastRun ?? "",
                        body: [
                            "fingerprint": .string(alert.fingerprint),
                            "cancelled_waiting": .array(cancelled.map(JSONValue.string)),
                        ]))
            }
            for assessment in matcher.assess(
                alert, environment: environment, runID: { _ in PreparedRun.newRunID(now: now) })
            {
                let runbook = assessment.entry.runbook
                let candidate = PolicyGate.Candidate(
                    runbook: runbook, trigger: assessment.entry.trigger, alert: alert, lockKey: assessment.lockKey)
                guard let prepared = assessment.prepared else {
                    // Stateless refusal (bad params, Grafana housekeeping): recorded like any suppression.
                    let refusal = assessment.refusal ?? .notRunnable(reason: "not_runnable", message: "not runnable")
                    records.append(PolicyGate.record(.suppressed(refusal), for: candidate, now: now))
                    outcome.decisions.append(
                        .init(runbook: runbook.id, decision: "suppressed", runID: nil, reason: refusal.description))
                    continue
                }
                let runID = prepared.context.runID
                var decision = gate.decide(candidate, runID: runID, now: now)
                if case .run = decision, queued >= configuration.queueCapacity {
                    _ = gate.runFinished(runID, candidate: candidate, outcome: .suppressed, now: now)
                    decision = .suppressed(.queueFull(capacity: configuration.queueCapacity))
                    records.append(PolicyGate.record(decision, for: candidate, now: now))
                    outcome.decisions.append(
                        .init(runbook: runbook.id, decision: "suppressed", runID: nil, reason: "queue full"))
                    continue
                }
                records.append(PolicyGate.record(decision, for: candidate, now: now))
                let work = Work(runID: runID, prepared: prepared, candidate: candidate)
                switch decision {
                case .run:
                    candidates[runID] = candidate
                    queued += 1
                    ready.append(work)
                    outcome.decisions.append(.init(runbook: runbook.id, decision: "run", runID: runID, reason: nil))
                case .shadow:
                    records += shadowRecords(work, now: now)
                    outcome.decisions.append(
                        .init(runbook: runbook.id, decision: "shadowed", runID: runID, reason: nil))
                case .awaitingApproval:
                    candidates[runID] = candidate
                    records.append(Self.started(work, now: now))
                    waitingApproval[runID] = Work(
                        runID: runID, prepared: prepared, candidate: candidate, startRecorded: true)
                    outcome.decisions.append(
                        .init(runbook: runbook.id, decision: "awaiting_approval", runID: runID, reason: nil))
                case .queued(_, let behind):
                    candidates[runID] = candidate
                    records.append(Self.started(work, now: now))
                    waitingApproval[runID] = Work(
                        runID: runID, prepared: prepared, candidate: candidate, startRecorded: true)
                    outcome.decisions.append(
                        .init(runbook: runbook.id, decision: "queued", runID: runID, reason: "behind \(behind)"))
                case .suppressed(let suppression):
                    outcome.decisions.append(
                        .init(runbook: runbook.id, decision: "suppressed", runID: nil, reason: suppression.description))
                }
            }
            do {
                try await audit.append(batch: records)
            } catch {
                // Nothing of this alert was recorded: undo what was decided, so the sender's retry (it got a
                // 503) is decided afresh rather than deduplicated against a decision nobody can see.
                let undone =
                    ready.map { ($0.runID, $0.candidate) }
                    + outcome.decisions.compactMap { decision in
                        decision.runID.flatMap { id in waitingApproval[id].map { (id, $0.candidate) } }
                    }
                queued -= ready.count
                for (runID, candidate) in undone {
                    waitingApproval[runID] = nil
                    candidates[runID] = nil
                    _ = gate.runFinished(runID, candidate: candidate, outcome: .suppressed, now: now)
                }
                throw error
            }
            for work in ready { enqueue.yield(work) }
            outcomes.append(outcome)
        }
        return outcomes
    }

    static func started(_ work: Work, now: Date) -> AuditEvent {
        AuditEvent(
            time: now, kind: "run.started", runID: work.runID, body: work.prepared.startedRecord(initiator: "alert"))
    }

    private func shadowRecords(_ work: Work, now: Date) -> [AuditEvent] {
        [
            Self.started(work, now: now),
            AuditEvent(time: now, kind: "run.shadowed", runID: work.runID, body: ["plan": RunPlan(work.prepared).json]),
            AuditEvent(time: now, kind: "run.finished", runID: work.runID, body: ["outcome": "shadowed"]),
        ]
    }

    /// Forgets a waiting run; returns its end record for the caller to commit.
    private func finishWaiting(_ runID: String, outcome: RunOutcome, reason: String, now: Date) -> [AuditEvent] {
        waitingApproval[runID] = nil
        candidates[runID] = nil
        return [
            AuditEvent(
                time: now, kind: "run.finished", runID: runID,
                body: ["outcome": .string(outcome.rawValue), "reason": .string(reason)])
        ]
    }

    /// `POST /v1/runs/{id}/approve`: a run waiting for approval starts. False when no such run waits.
    public func approve(_ runID: String, by who: String, now: Date = Date()) async throws -> Bool {
        guard let work = waitingApproval.removeValue(forKey: runID) else { return false }
        try await audit.append(AuditEvent(time: now, kind: "run.approved", runID: runID, body: ["by": .string(who)]))
        gate.runBegan(runID)
        queued += 1
        enqueue.yield(work)
        return true
    }

    /// `POST /v1/runs/{id}/cancel`: stops a running run (tear down, roll back) or drops a waiting one.
    public func cancel(_ runID: String, by who: String, now: Date = Date()) async throws -> Bool {
        if waitingApproval[runID] != nil {
            try await audit.append(
                AuditEvent(time: now, kind: "run.cancel_requested", runID: runID, body: ["by": .string(who)]))
            if let candidate = candidates[runID] {
                _ = gate.runFinished(runID, candidate: candidate, outcome: .cancelled, now: now)
            }
            try await audit.append(
                batch: finishWaiting(runID, outcome: .cancelled, reason: "cancelled by \(who)", now: now))
            return true
        }
        guard let stop = cancels[runID] else { return false }
        try await audit.append(
            AuditEvent(time: now, kind: "run.cancel_requested", runID: runID, body: ["by": .string(who)]))
        stop.trigger()
        return true
    }

    /// Begins a graceful shutdown (safe to call from a signal or shutdown handler).
    public nonisolated func shutDown() {
        shutdownSignal.trigger()
    }

    private func beginShutdown() {
        shuttingDown = true
        enqueue.finish()
    }

    private func stopAll() {
        for stop in cancels.values { stop.trigger() }
    }

    private func begin(_ runID: String) -> StopSignal? {
        queued -= 1
        // Accepted but never started: no end record, so the next start marks it interrupted.
        if shuttingDown { return nil }
        queued -= 1
        let stop = StopSignal()
        cancels[runID] = stop
        return stop
    }

    private func finished(_ runID: String, outcome: RunOutcome) async {
        cancels[runID] = nil
        guard let candidate = candidates.removeValue(forKey: runID) else { return }
        let aftermath = gate.runFinished(runID, candidate: candidate, outcome: outcome, now: Date())
        if let next = aftermath.dequeued, let work = waitingApproval.removeValue(forKey: next) {
            gate.runBegan(next)
            queued += 1
            enqueue.yield(work)
        }
        if aftermath.escalate {
            try? await audit.append(
                PolicyGate.breakerRecord(
                    opened: true, runbook: candidate.runbook.id, key: candidate.groupKey, now: Date()))
            if let escalate = candidate.runbook.policy.escalate {
                await runEscalation(escalate, for: candidate)
            }
        }
    }

    /// Runs `policy.escalate` as a one-step run of its own, audited like any other.
    private func runEscalation(_ body: StepBody, for candidate: PolicyGate.Candidate) async {
        let runbook = Runbook(
            id: "\(candidate.runbook.id)-escalate", params: candidate.runbook.params,
            steps: [Step(id: "escalate", body: body)])
        guard
            case .success(let prepared) = PreparedRun.prepare(
                runbook, runID: PreparedRun.newRunID(), given: [:], alert: candidate.alert, environment: environment)
        else { return }
        let executor = Executor(runner: runner, clock: clock, audit: audit, maxParallel: 1, initiator: "breaker")
        _ = try? await executor.run(prepared)
    }

    /// Executes queued runs, at most `maxConcurrentRuns` at once, until the calling task is cancelled.
    /// On cancellation, running runs are stopped (torn down, rolled back, recorded).
    public func run() async {
        let executorTemplate = (runner, clock, audit, configuration.maxParallelSteps)
        let grace = configuration.shutdownGrace
        let clock = self.clock
        await withTaskGroup(of: Void.self) { group in
            // The shutdown watcher: no new runs, then the grace period, then running runs are stopped.
            group.addTask {
                await self.shutdownSignal.wait()
                guard !Task.isCancelled else { return }
                await self.beginShutdown()
                try? await clock.sleep(for: grace)
                await self.stopAll()
            }
            var running = 0
            for await work in queue {
                if Task.isCancelled { break }
                while running >= configuration.maxConcurrentRuns {
                    await group.next()
                    running -= 1
                }
                guard let stop = begin(work.runID) else { continue }
                running += 1
                group.addTask {
                    let executor = Executor(
                        runner: executorTemplate.0, clock: executorTemplate.1, audit: executorTemplate.2,
                        maxParallel: executorTemplate.3, initiator: "alert")
                    let outcome: RunOutcome
                    do {
                        outcome = try await withTaskCancellationHandler {
                            try await executor.run(
                                work.prepared, cancel: stop, provenance: ["decided_by": "policy gate"],
                                recordStart: !work.startRecorded
                            ).outcome
                        } onCancel: {
                            stop.trigger()
                        }
                    } catch let failure as Executor.AuditFailure {
                        outcome = failure.report.outcome
                    } catch {
                        outcome = .cancelled
                    }
                    await self.finished(work.runID, outcome: outcome)
                }
            }
            // The queue is finished: wait for the running runs, but not for an idle shutdown watcher.
            while running > 0 {
                await group.next()
                running -= 1
            }
            group.cancelAll()
        }
    }

    /// Stops accepting queued work (the `run()` loop ends once running runs finish).
    public func finishQueue() {
        enqueue.finish()
    }
}
