import Foundation

/// Everything the engine decides, as a value: what one alert leads to (match, policy, queue room), what an
/// approval, a cancellation or a finished run changes, the records to commit and the runs to start.
///
/// No I/O and no clock of its own: callers pass `now` and a run-id source. The dispatcher commits the
/// records of a transition and only then starts its runs; when the commit fails it keeps the decider it
/// had before the transition, so the state is exactly as if the alert (or the approval) never arrived.
///
/// A run that has not finished is in one phase at a time, and each phase change happens in one transition:
/// `awaitingApproval` → (approved) `ready` or `running`; `queued` (for a lock) → (lock handed over) `ready`,
/// `running` or `awaitingApproval`; `ready` (for an executor slot) → `running`; any waiting phase →
/// (cancelled, alert resolved) finished; `running` → (the executor's `run.finished`) finished.
public struct Decider: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// Runs executing at once; a run decided while they are all busy is suppressed `global_cap`.
        public var maxConcurrentRuns: Int
        /// Runs that may wait, for a lock (`policy.queue: true`) or for an executor slot after an approval or a
        /// lock hand-over; beyond this a decision is suppressed `queue_full` and an approval is refused.
        public var maxQueuedRuns: Int
        public var globalShadow: Bool
        public var dedupWindow: Duration
        /// nil: `PolicyGate.Configuration`'s rule (5 minutes, or `dedupWindow` where shorter).
        public var unstampedDedupWindow: Duration?

        public init(
            maxConcurrentRuns: Int = 8, maxQueuedRuns: Int = 256, globalShadow: Bool = false,
            dedupWindow: Duration = .seconds(24 * 3600), unstampedDedupWindow: Duration? = nil
        ) {
            self.maxConcurrentRuns = maxConcurrentRuns
            self.maxQueuedRuns = maxQueuedRuns
            self.globalShadow = globalShadow
            self.dedupWindow = dedupWindow
            self.unstampedDedupWindow = unstampedDedupWindow
        }

        var gate: PolicyGate.Configuration {
            .init(
                maxConcurrentRuns: maxConcurrentRuns, globalShadow: globalShadow, dedupWindow: dedupWindow,
                unstampedDedupWindow: unstampedDedupWindow)
        }
    }

    /// Where a run that has not finished stands.
    public enum Phase: Sendable, Equatable {
        case awaitingApproval
        /// Waits for its concurrency lock.
        case queued
        /// May run; waits for an executor slot.
        case ready
        /// Handed to the executor (starting or executing).
        case running
    }

    /// A run the engine knows and that has not finished.
    public struct PendingRun: Sendable {
        public var prepared: PreparedRun
        public var candidate: PolicyGate.Candidate
        public var phase: Phase
        /// Arrival order among waiting runs (first come, first served).
        var arrival: UInt64
        /// `run.started` is already recorded (the run waited): the executor must not record it again.
        public var startRecorded: Bool
    }

    /// A run to hand to the executor once the transition's records are committed.
    public struct Start: Sendable {
        public var runID: String
        public var prepared: PreparedRun
        public var startRecorded: Bool
        /// What the run must prove when it succeeds (`verify`), for its `run.finished`.
        public var verification: VerificationPlan?
        /// The run's dedup and breaker key.
        public var groupKey: String = ""
    }

    /// What became of one alert: the HTTP answer's body and `medic match`'s vocabulary.
    public struct AlertOutcome: Sendable, Equatable {
        public struct Decision: Sendable, Equatable {
            public var runbook: String
            /// `run`, `shadowed`, `queued`, `awaiting_approval` or `suppressed` (`AuditKind.decision`).
            public var decision: String
            public var runID: String?
            /// For `suppressed`, the message; for `queued`, whom it waits behind.
            public var reason: String?
            /// For `suppressed`, the stable reason (`dedup`, `cooldown`, `queue_full`, ...).
            public var reasonCode: String?

            public init(runbook: String, decision: String, runID: String?, reason: String?, reasonCode: String? = nil) {
                self.runbook = runbook
                self.decision = decision
                self.runID = runID
                self.reason = reason
                self.reasonCode = reasonCode
            }
        }

        public var fingerprint: String
        public var status: String
        public var decisions: [Decision]
    }

    /// A transition's result: the answer for the caller, the records to commit first, the runs to start
    /// after, and the breakers that opened (whose `policy.escalate` the engine runs).
    public struct Transition<Answer: Sendable>: Sendable {
        public var answer: Answer
        public var records: [AuditEvent] = []
        public var starts: [Start] = []
        /// Running runs to stop (cancelled): torn down and rolled back by their executor.
        public var stops: [String] = []
        /// Runs that ended needing people (`policy.escalate`), their `run.escalated` among `records`.
        public var escalations: [Escalation] = []
        /// Verifications decided (verified or unverified): the engine stops probing and waiting for them.
        public var verificationsEnded: [String] = []
        /// Unverified runs whose runbook says `on_unverified: rollback`: the engine rolls back their steps.
        public var unverifiedRollbacks: [PendingVerification] = []

        public init(
            answer: Answer, records: [AuditEvent] = [], starts: [Start] = [], stops: [String] = [],
            escalations: [Escalation] = [], verificationsEnded: [String] = []
        ) {
            self.verificationsEnded = verificationsEnded
            self.answer = answer
            self.records = records
            self.starts = starts
            self.stops = stops
            self.escalations = escalations
        }
    }

    public enum ApprovalAnswer: Sendable, Equatable {
        case approved
        /// The run waits on another replica: the approval was recorded for it to take in.
        case forwarded(replica: String)
        /// No run with that id waits for approval (unknown, already approved, cancelled, finished).
        case notWaiting
        /// Every executor slot is busy and the waiting room is full: the run still awaits approval.
        case queueFull(capacity: Int)
    }

    public enum CancelAnswer: Sendable, Equatable {
        /// The run was waiting; it is finished `cancelled` by this transition.
        case cancelledWaiting
        /// The run is running: the engine must stop it (teardown, rollback); the executor records its end.
        case stopRunning
        case notFound
        /// The run is held by another replica: the cancel was recorded for it to take in.
        case forwarded(replica: String)
    }

    public let configuration: Configuration
    public private(set) var gate: PolicyGate
    public private(set) var runs: [String: PendingRun] = [:]
    private var arrivals: UInt64 = 0
    /// Runs that succeeded and wait for their proof (`verify`), by run id.
    public private(set) var verifications: [String: PendingVerification] = [:]
    /// When the alert of a running run resolved (a fix can work before its last step ends), by fingerprint.
    private var resolvedWhileRunning: [String: Date] = [:]

    /// The loaded runbooks, for verifications that outlive their run (and a restart).
    private var runbooksByID: [String: Runbook] = [:]

    public init(configuration: Configuration = Configuration(), runbooks: [Runbook] = []) {
        self.configuration = configuration
        gate = PolicyGate(configuration: configuration.gate)
        gate.observeWindows(of: runbooks)
        runbooksByID = Dictionary(runbooks.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Rebuilds the gate from audit records (see `PolicyGate.replay`).
    /// Rebuilds the gate from audit records (see `PolicyGate.replay`), and the verifications still pending: a
    /// `run.finished` that says `pending` and no `run.verified` or `run.unverified` after it, with the
    /// resolutions recorded since.
    public mutating func replay(_ records: some Sequence<AuditRecord>, runbooks: [Runbook], now: Date) {
        let records = Array(records)
        gate.replay(records, runbooks: runbooks, now: now)
        // The last resolution of each fingerprint: one that came while the run still ran counts for it.
        var lastResolved: [String: Date] = [:]
        for record in records {
            switch record.auditKind {
            case .runFinished:
                if var pending = PendingVerification(runFinished: record) {
                    if let fingerprint = pending.fingerprint, pending.needsResolution,
                        let resolved = lastResolved[fingerprint], resolved >= pending.runStartedAt
                    {
                        pending.resolvedAt = resolved
                    }
                    verifications[pending.runID] = pending
                }
            case .runVerified, .runUnverified:
                if let runID = record.runID { verifications[runID] = nil }
            case .alertResolved:
                guard let body = record.body(as: AlertResolvedBody.self), let time = RFC3339.parse(record.time)
                else { continue }
                lastResolved[body.fingerprint] = time
                for (runID, pending) in verifications
                where pending.fingerprint == body.fingerprint && pending.resolvedAt == nil {
                    verifications[runID]?.resolvedAt = time
                }
            default:
                continue
            }
        }
    }

    /// How far back a replay must read (see `PolicyGate.replayCutoff`), and far enough for the longest
    /// `verify.within`: a run that succeeded that long ago may still wait for its proof.
    public func replayCutoff(now: Date, runbooks: [Runbook]) -> Date {
        let longest = runbooks.compactMap { $0.verify?.within }.max() ?? .zero
        return min(
            gate.replayCutoff(now: now, runbooks: runbooks),
            now.addingTimeInterval(-Double(longest.milliseconds) / 1000 - 60))
    }

    static func plan(_ prepared: PreparedRun, _ candidate: PolicyGate.Candidate) -> VerificationPlan? {
        VerificationPlan(
            runbook: prepared.runbook, groupKey: candidate.groupKey, alert: prepared.context.alert,
            startedByAlert: true)
    }

    /// Policy records that other replicas sharing the store appended (their decisions, starts, ends, breaker
    /// changes, resolutions): the gate counts them as it counts its own, so dedup, cooldowns, rate caps, locks and
    /// breakers hold across replicas. A lock another replica's run released may pass to a run waiting here,
    /// which then starts. Their verifications stay with the replica that ran them.
    ///
    /// Each record is taken in once: those at or before `foreignThrough` are skipped, and afterwards everything
    /// up to `through` counts as seen.
    public mutating func observeForeign(_ records: [AuditRecord], through: Int64, now: Date) -> Transition<Void> {
        var transition = Transition(answer: ())
        let fresh = records.filter { $0.seq > foreignThrough }
        foreignThrough = max(foreignThrough, through)
        let dequeued = gate.replay(fresh, runbooks: Array(runbooksByID.values), now: nil)
        for next in dequeued { passLock(to: next) }
        // Approvals and cancels another replica recorded for runs held here (their records are written).
        for record in fresh {
            guard let runID = record.runID, let run = runs[runID] else { continue }
            let who = (record.bodyValue["by"] as? String) ?? "api"
            switch record.auditKind {
            case .runApproved where run.phase == .awaitingApproval:
                gate.runBegan(runID)
                runs[runID]?.phase = .ready
            case .runCancelRequested where run.phase == .running:
                transition.stops.append(runID)
            case .runCancelRequested:
                finishWaiting(runID, reason: "cancelled by \(who) (through another replica)", now: now, into: &transition)
            default:
                break
            }
        }
        startReady(into: &transition)
        return transition
    }

    /// With a store shared by replicas: every other replica's policy record up to here has been taken in.
    public private(set) var foreignThrough: Int64 = 0

    /// The shared store says nothing another replica decided lies between `foreignThrough` and `seq`.
    public mutating func sawThrough(_ seq: Int64) { foreignThrough = max(foreignThrough, seq) }

    /// A new runbook set: the horizon of what is remembered follows its windows.
    public mutating func runbooksChanged(_ runbooks: [Runbook]) {
        gate.observeWindows(of: runbooks)
        runbooksByID = Dictionary(runbooks.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Runs waiting for a lock or an executor slot (bounded by `maxQueuedRuns`).
    public var waitingCount: Int {
        runs.values.count { run in
            switch run.phase {
            case .queued, .ready: true
            case .awaitingApproval, .running: false
            }
        }
    }

    /// Runs handed to the executor and not finished.
    public var runningCount: Int { running }

    private var running: Int { runs.values.count { $0.phase == .running } }

    public func phase(of runID: String) -> Phase? { runs[runID]?.phase }

    // MARK: Alerts

    /// Decides one alert: its `alert.received` record, a resolution's cancellations, one decision per matching
    /// runbook, the records of runs that begin to wait or are shadowed, and the runs to start.
    public mutating func receive(
        _ alert: Alert, payloadDigest: String, matcher: AlertMatcher, environment: [String: String], now: Date,
        newRunID: () -> String
    ) -> Transition<AlertOutcome> {
        gate.forgetIfDue(now: now)
        var transition = Transition(
            answer: AlertOutcome(fingerprint: alert.fingerprint, status: alert.status.rawValue, decisions: []))
        transition.records.append(
            AuditEvent(
                time: now, kind: .alertReceived, runID: "",
                body: [
                    "source": .string(alert.source.rawValue), "status": .string(alert.status.rawValue),
                    "fingerprint": .string(alert.fingerprint), "payload_sha256": .string(payloadDigest),
                    "labels": .object(alert.labels.mapValues(JSONValue.string)),
                    "annotations": .object(alert.annotations.mapValues(JSONValue.string)),
                    "starts_at": JSONValue(alert.startsAt.map(RFC3339.format)),
                    "receiver": JSONValue(alert.receiver),
                ]))
        if alert.status == .firing {
            // It fires again: a resolution seen before no longer proves anything.
            resolvedWhileRunning[alert.fingerprint] = nil
            for (runID, pending) in verifications where pending.fingerprint == alert.fingerprint {
                verifications[runID]?.resolvedAt = nil
            }
        }
        if alert.status == .resolved {
            let waiting = notRunning.filter { runs[$0]?.candidate.alert.fingerprint == alert.fingerprint }
            for runID in waiting {
                finishWaiting(runID, reason: "the alert resolved", now: now, into: &transition)
            }
            let lastRun = gate.resolved(alert)
            if runs.values.contains(where: { $0.phase == .running && $0.candidate.alert.fingerprint == alert.fingerprint })
            {
                resolvedWhileRunning[alert.fingerprint] = now
            }
            resolution(of: alert.fingerprint, at: now, into: &transition)
            transition.records.append(
                AuditEvent(
                    time: now, kind: .alertResolved, runID: lastRun ?? "",
                    body: [
                        "fingerprint": .string(alert.fingerprint),
                        "cancelled_waiting": .array(waiting.map(JSONValue.string)),
                    ]))
        }
        for assessment in matcher.assess(alert, environment: environment, runID: { _ in newRunID() }) {
            let runbook = assessment.entry.runbook
            let candidate = PolicyGate.Candidate(
                runbook: runbook, trigger: assessment.entry.trigger, alert: alert, lockKey: assessment.lockKey)
            guard let prepared = assessment.prepared else {
                // Stateless refusal (bad params, Grafana housekeeping): recorded like any suppression.
                let refusal = assessment.refusal ?? .notRunnable(reason: "not_runnable", message: "not runnable")
                transition.records.append(PolicyGate.record(.suppressed(refusal), for: candidate, now: now))
                transition.answer.decisions.append(Self.answer(.suppressed(refusal), runbook: runbook.id))
                continue
            }
            let runID = prepared.context.runID
            let decision = gate.decide(
                candidate, runID: runID, now: now,
                queue: .init(waiting: waitingCount, capacity: configuration.maxQueuedRuns))
            transition.records.append(PolicyGate.record(decision, for: candidate, now: now))
            transition.answer.decisions.append(Self.answer(decision, runbook: runbook.id))
            switch decision {
            case .run:
                admit(runID, prepared: prepared, candidate: candidate, phase: .running, startRecorded: false)
                transition.starts.append(
                    Start(
                        runID: runID, prepared: prepared, startRecorded: false,
                        verification: Self.plan(prepared, candidate), groupKey: candidate.groupKey))
            case .shadow:
                transition.records += [
                    Self.started(prepared, now: now),
                    AuditEvent(
                        time: now, kind: .runShadowed, runID: runID, body: ["plan": RunPlan(prepared).json]),
                    AuditEvent(
                        time: now, kind: .runFinished, runID: runID, body: ["outcome": .string(RunOutcome.shadowed.rawValue)]),
                ]
            case .awaitingApproval:
                transition.records.append(Self.started(prepared, now: now))
                admit(runID, prepared: prepared, candidate: candidate, phase: .awaitingApproval, startRecorded: true)
            case .queued:
                transition.records.append(Self.started(prepared, now: now))
                admit(runID, prepared: prepared, candidate: candidate, phase: .queued, startRecorded: true)
            case .suppressed:
                break
            }
        }
        return transition
    }

    /// The `run.started` of a run an alert started.
    static func started(_ prepared: PreparedRun, now: Date) -> AuditEvent {
        AuditEvent(
            time: now, kind: .runStarted, runID: prepared.context.runID,
            body: prepared.startedRecord(initiator: "alert"))
    }

    static func answer(_ decision: PolicyGate.Decision, runbook: String) -> AlertOutcome.Decision {
        let word = decision.kind.decision ?? ""
        switch decision {
        case .run(let id), .shadow(let id), .awaitingApproval(let id):
            return .init(runbook: runbook, decision: word, runID: id, reason: nil)
        case .queued(let id, let behind):
            return .init(runbook: runbook, decision: word, runID: id, reason: "behind \(behind)")
        case .suppressed(let suppression):
            return .init(
                runbook: runbook, decision: word, runID: nil, reason: suppression.description,
                reasonCode: suppression.reason)
        }
    }

    private mutating func admit(
        _ runID: String, prepared: PreparedRun, candidate: PolicyGate.Candidate, phase: Phase, startRecorded: Bool
    ) {
        arrivals += 1
        runs[runID] = PendingRun(
            prepared: prepared, candidate: candidate, phase: phase, arrival: arrivals, startRecorded: startRecorded)
    }

    // MARK: Approval and cancellation

    /// `POST /v1/runs/{id}/approve`: a run waiting for approval starts, or waits for a slot.
    public mutating func approve(_ runID: String, by who: String, now: Date) -> Transition<ApprovalAnswer> {
        guard let run = runs[runID], run.phase == .awaitingApproval else { return Transition(answer: .notWaiting) }
        if running >= configuration.maxConcurrentRuns, waitingCount >= configuration.maxQueuedRuns {
            return Transition(answer: .queueFull(capacity: configuration.maxQueuedRuns))
        }
        var transition = Transition(answer: ApprovalAnswer.approved)
        transition.records.append(AuditEvent(time: now, kind: .runApproved, runID: runID, body: ["by": .string(who)]))
        gate.runBegan(runID)
        runs[runID]?.phase = .ready
        startReady(into: &transition)
        return transition
    }

    /// `POST /v1/runs/{id}/cancel`: a waiting run is finished `cancelled` now; a running one must be stopped.
    public mutating func cancel(_ runID: String, by who: String, now: Date) -> Transition<CancelAnswer> {
        guard let run = runs[runID] else { return Transition(answer: .notFound) }
        var transition = Transition(answer: CancelAnswer.stopRunning)
        transition.records.append(
            AuditEvent(time: now, kind: .runCancelRequested, runID: runID, body: ["by": .string(who)]))
        if run.phase == .running {
            transition.stops = [runID]
        } else {
            transition.answer = .cancelledWaiting
            finishWaiting(runID, reason: "cancelled by \(who)", now: now, into: &transition)
        }
        return transition
    }

    /// Ends a run that never ran: its `run.finished` (cancelled), its lock and place released.
    private mutating func finishWaiting<Answer>(
        _ runID: String, reason: String, now: Date, into transition: inout Transition<Answer>
    ) {
        guard let run = runs.removeValue(forKey: runID) else { return }
        transition.records.append(
            AuditEvent(
                time: now, kind: .runFinished, runID: runID,
                body: ["outcome": .string(RunOutcome.cancelled.rawValue), "reason": .string(reason)]))
        let aftermath = gate.runFinished(runID, candidate: run.candidate, outcome: .cancelled, now: now)
        handOver(aftermath, candidate: run.candidate, now: now, into: &transition)
    }

    /// Runs not handed to the executor (waiting for approval, a lock or a slot), oldest first.
    public var notRunning: [String] {
        runs.filter { $0.value.phase != .running }.sorted { $0.value.arrival < $1.value.arrival }.map(\.key)
    }

    /// Ends runs that will never execute (Medic is stopping): each gets its `run.finished` (`cancelled`, with
    /// `reason`), releases what it held, and what that hands over is started or, in turn, abandoned by the
    /// caller. A run in `running` counts as never started here: the caller knows it did not start it.
    public mutating func abandon(_ runIDs: [String], reason: String, now: Date) -> Transition<Void> {
        var transition = Transition(answer: ())
        for runID in runIDs {
            guard let run = runs[runID] else { continue }
            if !run.startRecorded {
                // Decided `run` but never handed to an executor: its start is recorded with its end, so the run
                // id the sender was given shows up in the run index.
                transition.records.append(Self.started(run.prepared, now: now))
            }
            finishWaiting(runID, reason: reason, now: now, into: &transition)
        }
        return transition
    }

    // MARK: Runs that end

    /// The executor recorded `run.finished` for a run it was handed: its slot, lock and place are released,
    /// the next waiting runs start, and a run that needs people (its breaker opened, its rollback failed, a
    /// remote kill it could not confirm: `killsUnconfirmed`) is recorded and escalated.
    public mutating func finished(
        _ runID: String, outcome: RunOutcome, killsUnconfirmed: [String] = [], startedAt: Date? = nil,
        finishedAt: Date? = nil, now: Date
    ) -> Transition<Void> {
        var transition = Transition(answer: ())
        guard let run = runs.removeValue(forKey: runID) else { return transition }
        let fingerprint = run.candidate.alert.fingerprint
        let resolvedAt = resolvedWhileRunning[fingerprint]
        if !runs.values.contains(where: { $0.phase == .running && $0.candidate.alert.fingerprint == fingerprint }) {
            resolvedWhileRunning[fingerprint] = nil
        }
        if outcome == .succeeded, let plan = Self.plan(run.prepared, run.candidate) {
            // The executor recorded `verification: pending` in the run's `run.finished`.
            var pending = PendingVerification(
                plan: plan, runID: runID, runStartedAt: startedAt ?? now, succeededAt: finishedAt ?? now)
            if let resolvedAt, resolvedAt >= pending.runStartedAt { pending.resolvedAt = resolvedAt }
            verifications[runID] = pending
            decideIfProven(runID, now: now, into: &transition)
        }
        let aftermath = gate.runFinished(runID, candidate: run.candidate, outcome: outcome, now: now)
        if aftermath.escalate {
            transition.records.append(
                PolicyGate.breakerRecord(
                    opened: true, runbook: run.candidate.runbook.id, key: run.candidate.groupKey, now: now))
        }
        if let escalation = Escalation.of(
            runID, candidate: run.candidate, outcome: outcome, breakerOpened: aftermath.escalate,
            killsUnconfirmed: killsUnconfirmed)
        {
            transition.records.append(escalation.record(now: now))
            transition.escalations.append(escalation)
        }
        handOver(aftermath, candidate: run.candidate, now: now, into: &transition)
        return transition
    }

    private mutating func handOver<Answer>(
        _ aftermath: PolicyGate.Aftermath, candidate: PolicyGate.Candidate, now: Date,
        into transition: inout Transition<Answer>
    ) {
        if let next = aftermath.dequeued { passLock(to: next) }
        startReady(into: &transition)
    }

    /// The lock passes to `next`, waiting in line here; a runbook in approval mode still needs its approval.
    private mutating func passLock(to next: String) {
        guard let waiting = runs[next] else { return }
        if waiting.candidate.runbook.policy.mode == .approval {
            runs[next]?.phase = .awaitingApproval
        } else {
            gate.runBegan(next)
            runs[next]?.phase = .ready
        }
    }

    /// Starts ready runs, oldest first, while executor slots are free.
    private mutating func startReady<Answer>(into transition: inout Transition<Answer>) {
        guard running < configuration.maxConcurrentRuns else { return }
        let ready = runs.filter { $0.value.phase == .ready }.sorted { $0.value.arrival < $1.value.arrival }
        for (runID, run) in ready.prefix(configuration.maxConcurrentRuns - running) {
            runs[runID]?.phase = .running
            transition.starts.append(
                Start(
                    runID: runID, prepared: run.prepared, startRecorded: run.startRecorded,
                    verification: Self.plan(run.prepared, run.candidate), groupKey: run.candidate.groupKey))
        }
    }
}

extension Decider {
    // MARK: Verification

    /// A source other than a notification (Alertmanager's API) says the alert of `runID` no longer fires.
    public mutating func resolvedAtSource(_ runID: String, source: String, now: Date) -> Transition<Void> {
        var transition = Transition(answer: ())
        guard let pending = verifications[runID], pending.needsResolution, pending.resolvedAt == nil else {
            return transition
        }
        verifications[runID]?.resolvedAt = now
        verifications[runID]?.resolvedVia = source
        decideIfProven(runID, now: now, into: &transition)
        return transition
    }

    /// Records `run.verified` for every pending verification whose proof is complete (a replay can rebuild one
    /// whose resolution came while Medic was down or before its run ended).
    public mutating func settleProven(now: Date) -> Transition<Void> {
        var transition = Transition(answer: ())
        for runID in verifications.keys.sorted() { decideIfProven(runID, now: now, into: &transition) }
        return transition
    }

    /// A resolution of `fingerprint` proves the pending verifications that wait for it.
    mutating func resolution<Answer>(of fingerprint: String, at now: Date, into transition: inout Transition<Answer>) {
        for (runID, pending) in verifications
        where pending.fingerprint == fingerprint && pending.needsResolution && pending.resolvedAt == nil {
            verifications[runID]?.resolvedAt = now
            decideIfProven(runID, now: now, into: &transition)
        }
    }

    /// Records `run.verified` once everything asked for has been seen.
    mutating func decideIfProven<Answer>(_ runID: String, now: Date, into transition: inout Transition<Answer>) {
        guard let pending = verifications[runID], pending.isProven else { return }
        verifications[runID] = nil
        transition.records.append(pending.verifiedRecord(now: now))
        transition.verificationsEnded.append(runID)
    }

    /// One probe attempt ended: its `verify.probe` record, and a pass may prove the run. Answers whether to
    /// probe again (still pending and no pass yet); a verification decided meanwhile records nothing more.
    public mutating func probeFinished(
        _ runID: String, passed: Bool, summary: String, record: AuditEvent, now: Date
    ) -> Transition<Bool> {
        var transition = Transition(answer: false)
        guard verifications[runID] != nil else { return transition }
        transition.records.append(record)
        verifications[runID]?.probeAttempts += 1
        if passed {
            verifications[runID]?.probePassedAt = now
        } else {
            verifications[runID]?.lastProbeFailure = summary
        }
        decideIfProven(runID, now: now, into: &transition)
        transition.answer = verifications[runID].map { $0.probePassedAt == nil } ?? false
        return transition
    }

    /// The deadline passed (or the proof cannot be had: `reason`): `run.unverified`, a failure for the breaker,
    /// and what `on_unverified` asks: an escalation, a rollback for the engine to run, or the record alone.
    public mutating func verificationDue(_ runID: String, reason: String? = nil, now: Date) -> Transition<Void> {
        var transition = Transition(answer: ())
        if verifications[runID]?.isProven == true {
            // Proven before its deadline (a replay found the resolution): verified, not unverified.
            decideIfProven(runID, now: now, into: &transition)
            return transition
        }
        guard let pending = verifications.removeValue(forKey: runID) else { return transition }
        transition.records.append(pending.unverifiedRecord(now: now, reason: reason))
        transition.verificationsEnded.append(runID)
        let runbook = runbooksByID[pending.runbook]
        let opened = gate.countFailure(runbook: runbook, groupKey: pending.groupKey, time: now)
        if opened {
            transition.records.append(
                PolicyGate.breakerRecord(opened: true, runbook: pending.runbook, key: pending.groupKey, now: now))
        }
        var reasons: [Escalation.Reason] = []
        var details: [String] = []
        switch pending.onUnverified {
        case .escalate:
            reasons.append(.unverified)
            details.append("run \(runID) of \(pending.runbook) succeeded but is unverified: \(reason ?? pending.unverifiedReason)")
        case .rollback:
            transition.unverifiedRollbacks.append(pending)
        case .record:
            break
        }
        if opened {
            reasons.append(.breakerOpened)
            details.append(
                "the circuit breaker of \(pending.runbook) opened for key \(pending.groupKey) after run \(runID) ended unverified")
        }
        if !reasons.isEmpty {
            escalate(pending, runbook: runbook, reasons: reasons, details: details, now: now, into: &transition)
        }
        return transition
    }

    /// The rollback `on_unverified: rollback` asked for ended: a failed one escalates (`rollback_failed`).
    public mutating func unverifiedRollbackFinished(
        _ pending: PendingVerification, succeeded: Bool, detail: String, now: Date
    ) -> Transition<Void> {
        var transition = Transition(answer: ())
        guard !succeeded else { return transition }
        escalate(
            pending, runbook: runbooksByID[pending.runbook], reasons: [.rollbackFailed, .unverified],
            details: [
                "run \(pending.runID) of \(pending.runbook) was unverified and its rollback failed: \(detail)"
            ], now: now, into: &transition)
        return transition
    }

    private func escalate<Answer>(
        _ pending: PendingVerification, runbook: Runbook?, reasons: [Escalation.Reason], details: [String], now: Date,
        into transition: inout Transition<Answer>
    ) {
        let alert = pending.fingerprint.map {
            Alert(source: .json, status: .firing, labels: pending.alertLabels, fingerprint: $0)
        }
        // A runbook removed since still gets its record; it has no hook left to run.
        let escalation = Escalation(
            runbook: runbook ?? Runbook(id: pending.runbook), alert: alert, groupKey: pending.groupKey,
            runID: pending.runID, reasons: reasons, details: details)
        transition.records.append(escalation.record(now: now))
        transition.escalations.append(escalation)
    }
}

extension PolicyGate.Decision {
    /// The record kind of this decision (`decision.run`, ...), whose `decision` word answers HTTP and match.
    public var kind: AuditKind {
        switch self {
        case .run: .decisionRun
        case .shadow: .decisionShadowed
        case .awaitingApproval: .decisionAwaitingApproval
        case .queued: .decisionQueued
        case .suppressed: .decisionSuppressed
        }
    }
}
