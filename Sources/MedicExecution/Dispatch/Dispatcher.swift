import Foundation
import MedicCore

/// The engine between intake and execution: commits what the `Decider` decides, then applies it (starts
/// runs, stops them, escalates), in the background, bounded.
///
/// Every change of state (an alert, an approval, a cancellation, a run that ended, a reload) is a transition
/// of the decider, and transitions are applied one batch at a time: a batch's records are committed in one
/// transaction, and only then are its runs started. When the commit fails the decider goes back to the value
/// it had before the batch, so the state is exactly as if those alerts and approvals never arrived (their
/// senders get an error and retry); a run that ended is applied regardless, its records being reported as
/// lost. No transition can interleave with another across the commit's suspension.
public actor Dispatcher {
    public struct Configuration: Sendable {
        public var maxConcurrentRuns: Int
        /// Runs waiting for a lock or an executor slot (`--max-queued-runs`); beyond this, matches are recorded
        /// as `suppressed: queue_full`.
        public var queueCapacity: Int
        public var globalShadow: Bool
        public var maxParallelSteps: Int
        /// On shutdown, how long running runs may go on before they are stopped (torn down, rolled back).
        public var shutdownGrace: Duration
        /// See `PolicyGate.Configuration`.
        public var dedupWindow: Duration
        public var unstampedDedupWindow: Duration?
        /// How often a `ResolutionSource` is asked about the alert of a pending verification.
        public var resolutionPoll: Duration = .seconds(5)
        /// With a store shared by several replicas: how often the others' decisions are taken in when this
        /// replica decides nothing (a decision takes them in at once, in its own transaction).
        public var replicaCatchUp: Duration = .seconds(1)

        public init(
            maxConcurrentRuns: Int = 8, queueCapacity: Int = 256, globalShadow: Bool = false, maxParallelSteps: Int = 4,
            shutdownGrace: Duration = .seconds(30), dedupWindow: Duration = .seconds(24 * 3600),
            unstampedDedupWindow: Duration? = nil
        ) {
            self.shutdownGrace = shutdownGrace
            self.maxConcurrentRuns = maxConcurrentRuns
            self.queueCapacity = queueCapacity
            self.globalShadow = globalShadow
            self.maxParallelSteps = maxParallelSteps
            self.dedupWindow = dedupWindow
            self.unstampedDedupWindow = unstampedDedupWindow
        }

        var decider: Decider.Configuration {
            .init(
                maxConcurrentRuns: maxConcurrentRuns, maxQueuedRuns: queueCapacity, globalShadow: globalShadow,
                dedupWindow: dedupWindow, unstampedDedupWindow: unstampedDedupWindow)
        }
    }

    /// What became of one alert.
    public typealias AlertOutcome = Decider.AlertOutcome

    /// Medic is stopping: nothing new is decided or approved (the sender retries against the next Medic).
    public struct ShuttingDown: Error, CustomStringConvertible {
        public var description: String { "medic is shutting down" }
    }

    /// Something that went wrong where nobody waits for an answer: it is logged and counted, never dropped.
    public enum Trouble: Sendable, Equatable, CustomStringConvertible {
        /// Records that could not be committed (a `breaker.opened`, an escalation's failure).
        case recordsLost(kinds: [AuditKind], error: String)
        /// `policy.escalate` could not run, or did not succeed.
        case escalationFailed(runbook: String, reason: String)
        /// A run needs people and its runbook has no `policy.escalate`: the log is all there is.
        case escalatedWithoutHook(runID: String, details: [String])

        public var description: String {
            switch self {
            case .recordsLost(let kinds, let error):
                "audit records lost (\(kinds.map(\.rawValue).joined(separator: ", "))): \(error)"
            case .escalationFailed(let runbook, let reason): "escalation of \(runbook) failed: \(reason)"
            case .escalatedWithoutHook(let runID, let details):
                "run \(runID) needs people and its runbook has no policy.escalate: \(details.joined(separator: "; "))"
            }
        }
    }

    public let configuration: Configuration
    private let audit: any AuditLog
    /// The store as shared with other replicas (PostgreSQL), if it is: decisions are appended only when no
    /// other replica decided something this one has not taken in (`SharedAuditLog`).
    private let shared: (any SharedAuditLog)?
    private let runner: any ProcessRunner
    private let clock: any Clock<Duration>
    private let now: @Sendable () -> Date
    private let environment: [String: String]
    private let trouble: @Sendable (Trouble) -> Void
    private var matcher: AlertMatcher
    private var decider: Decider
    private let queue: AsyncStream<Decider.Start>
    private let enqueue: AsyncStream<Decider.Start>.Continuation
    private var stops: [String: StopSignal] = [:]
    private var shuttingDown = false
    /// The loaded runbooks by id (verifications and their rollbacks outlive the runs they follow).
    private var runbooksByID: [String: Runbook]
    /// Reads one run's records back (the store's `records(run:)`): a verification rebuilt after a restart
    /// prepares its probe from them, and `on_unverified: rollback` its rollback.
    private let runRecords: (@Sendable (String) async throws -> [AuditRecord])?
    /// One task per pending verification: probing and waiting for its deadline.
    private var verificationTasks: [String: Task<Void, Never>] = [:]
    /// Alertmanager's API (`--alertmanager-url`): asked, every `Configuration.resolutionPoll`, whether an
    /// alert a verification waits for still fires; where silences and `MedicEscalation` alerts go.
    private let alertmanager: (any AlertmanagerActions)?
    private var resolutionSource: (any ResolutionSource)? { alertmanager }
    /// A silence a running or verifying run holds (`policy.silence`), with what an escalation about it needs.
    private struct HeldSilence {
        var id: String
        var runbook: Runbook
        var alert: Alert?
        var groupKey: String
    }
    private var silences: [String: HeldSilence] = [:]
    /// This replica lost its lease on the shared store: it decides nothing until it holds one again.
    public struct Fenced: Error, CustomStringConvertible {
        public var description: String {
            "this replica lost its lease on the shared store and decides nothing until it holds one again"
        }
    }

    /// Triggered by `fence()`: running runs stop at once, without rollback (a new signal after `unfence()`).
    private var fenceSignal = StopSignal()
    /// Runs handed to the executor and not finished, by id.
    private var executingRuns: Set<String> = []
    /// Runs stopped or abandoned by a fence: their end is recorded by the store's fence handling, not here.
    private var fencedRuns: Set<String> = []

    /// This replica lost its lease on the shared store: every running run is torn down now, without rollback
    /// (another replica may own its target by now), and nothing starts until `unfence()`. Returns the runs
    /// that were stopped.
    public func fence() async -> [String] {
        fenceSignal.trigger()
        let running = executingRuns
        fencedRuns.formUnion(running)
        // Runs decided under the lost lease and not started (queued, waiting for approval) end here too; their
        // records cannot be written now, and the sweep closes them in the store like the stopped ones.
        let waiting = decider.notRunning
        fencedRuns.formUnion(waiting)
        _ = try? await perform(mustCommit: false) { decider, now in
            decider.abandon(waiting, reason: "this replica lost its lease on the shared store", now: now)
        }
        return (running.union(waiting)).sorted()
    }

    /// Whether any of `runIDs` is still being executed (a fenced run's teardown has not ended).
    public func isExecuting(any runIDs: [String]) -> Bool {
        runIDs.contains { executingRuns.contains($0) }
    }

    /// The lease is held again: runs may start.
    public func unfence() {
        if fenceSignal.isTriggered { fenceSignal = StopSignal() }
        fencedRuns = []
    }

    /// Triggered by `shutDown()`: stop starting runs, give running ones the grace period, then stop them.
    public nonisolated let shutdownSignal = StopSignal()

    /// - Parameters:
    ///   - history: audit records to rebuild cooldowns, dedup, locks and breakers from; only those since
    ///     `replayCutoff` matter (see `SQLiteAuditLog.policyHistory(since:)`).
    ///   - now: the wall clock every decision and record reads; `clock` paces waits.
    ///   - seenThrough: with a shared store, its last sequence number read before `history`: other replicas'
    ///     records after it are taken in as they are found.
    ///   - trouble: told about every failure to record or to escalate (the server logs and counts them).
    public init(
        runbooks: [Runbook], audit: any AuditLog, history: some Sequence<AuditRecord> = [AuditRecord](),
        configuration: Configuration = Configuration(),
        environment: [String: String], runner: any ProcessRunner = SubprocessRunner(),
        clock: any Clock<Duration> = ContinuousClock(), now: @escaping @Sendable () -> Date = { Date() },
        runRecords: (@Sendable (String) async throws -> [AuditRecord])? = nil,
        alertmanager: (any AlertmanagerActions)? = nil, seenThrough: Int64 = 0,
        trouble: @escaping @Sendable (Trouble) -> Void = { _ in }
    ) {
        shared = audit.asShared
        self.runRecords = runRecords
        self.alertmanager = alertmanager
        runbooksByID = Dictionary(runbooks.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        self.configuration = configuration
        self.audit = audit
        self.runner = runner
        self.clock = clock
        self.now = now
        self.environment = environment
        self.trouble = trouble
        matcher = AlertMatcher(runbooks: runbooks, globalShadow: configuration.globalShadow)
        var decider = Decider(configuration: configuration.decider, runbooks: runbooks)
        let history = Array(history)
        decider.replay(history, runbooks: runbooks, now: now())
        self.decider = decider
        // The history is a snapshot: everything in it, and everything before `seenThrough` (read before it), is in.
        self.decider.sawThrough(max(seenThrough, history.last?.seq ?? 0))
        (queue, enqueue) = AsyncStream.makeStream(of: Decider.Start.self)
    }

    /// The oldest record a replay at `now` needs for `runbooks` under `configuration`.
    public static func replayCutoff(configuration: Configuration, runbooks: [Runbook], now: Date) -> Date {
        Decider(configuration: configuration.decider).replayCutoff(now: now, runbooks: runbooks)
    }

    /// Replaces the runbook set (reload); runs already decided keep the runbook they were decided with.
    public func replaceRunbooks(_ runbooks: [Runbook]) async {
        matcher = AlertMatcher(runbooks: runbooks, globalShadow: configuration.globalShadow)
        runbooksByID = Dictionary(runbooks.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        _ = try? await perform(mustCommit: false) { decider, _ in
            decider.runbooksChanged(runbooks)
            return Decider.Transition(answer: ())
        }
    }

    // MARK: The requests

    /// Records, matches and decides every alert of one message; returns once all of it is committed. Throws only
    /// when the audit log cannot be written: then nothing of the message was recorded or remembered (the caller
    /// answers 503 so the sender retries, and the retry is decided afresh).
    public func receive(_ alerts: [Alert], payloadDigest: String) async throws -> [AlertOutcome] {
        guard !shuttingDown else { throw ShuttingDown() }
        // Answered 503: Alertmanager sends it again, to this replica once it holds a lease or to another.
        guard !fenceSignal.isTriggered else { throw Fenced() }
        let matcher = self.matcher
        let environment = self.environment
        return try await perform(mustCommit: true) { decider, now in
            var combined = Decider.Transition(answer: [AlertOutcome]())
            for alert in alerts {
                let transition = decider.receive(
                    alert, payloadDigest: payloadDigest, matcher: matcher, environment: environment, now: now,
                    newRunID: { PreparedRun.newRunID(now: now) })
                combined.answer.append(transition.answer)
                combined.records += transition.records
                combined.starts += transition.starts
                combined.verificationsEnded += transition.verificationsEnded
            }
            return combined
        }
    }

    /// `POST /v1/runs/{id}/approve`: a run waiting for approval starts (or waits for a slot).
    public func approve(_ runID: String, by who: String) async throws -> Decider.ApprovalAnswer {
        guard !shuttingDown else { throw ShuttingDown() }
        guard !fenceSignal.isTriggered else { throw Fenced() }
        let answer = try await perform(mustCommit: true) { decider, now in decider.approve(runID, by: who, now: now) }
        // The holder decides whether it still waits (a run whose lock was handed over waits without a record).
        guard answer == .notWaiting, let shared, let elsewhere = try await shared.runElsewhere(runID) else {
            return answer
        }
        try await forward(.runApproved, runID: runID, by: who, to: elsewhere.replica)
        return .forwarded(replica: elsewhere.replica)
    }

    /// `POST /v1/runs/{id}/cancel`: stops a running run (tear down, roll back) or ends a waiting one.
    public func cancel(_ runID: String, by who: String) async throws -> Decider.CancelAnswer {
        guard !fenceSignal.isTriggered else { throw Fenced() }
        let answer = try await perform(mustCommit: true) { decider, now in decider.cancel(runID, by: who, now: now) }
        guard answer == .notFound, let shared, let elsewhere = try await shared.runElsewhere(runID) else {
            return answer
        }
        try await forward(.runCancelRequested, runID: runID, by: who, to: elsewhere.replica)
        return .forwarded(replica: elsewhere.replica)
    }

    /// Records an approval or a cancel for the replica that holds the run; it takes the record in (within
    /// `replicaCatchUp`) and acts on it as if it had been asked itself.
    private func forward(_ kind: AuditKind, runID: String, by who: String, to replica: String) async throws {
        try await audit.append(
            AuditEvent(
                time: now(), kind: kind, runID: runID,
                body: ["by": .string(who), "forwarded_to": .string(replica)]))
    }

    /// Where a run that has not finished stands (nil: unknown or finished).
    public func phase(of runID: String) -> Decider.Phase? { decider.phase(of: runID) }

    /// Runs waiting for a lock or a slot, and runs handed to the executor.
    public var counts: (waiting: Int, running: Int, pending: Int) {
        (decider.waitingCount, decider.runningCount, decider.runs.count)
    }

    /// Runs decided and waiting for a run slot or their lock.
    public var waitingRuns: Int { decider.waitingCount }

    /// The policy gate's memory, in entries (to show it stays bounded).
    public var gateFootprint: Int { decider.gate.footprint }

    /// Runs the gate counts as active, and locks held or waited for (both 0 when the engine is idle).
    public var held: (activeRuns: Int, locks: Int) { (decider.gate.activeRuns, decider.gate.heldLocks) }

    // MARK: Transitions, one batch at a time

    private struct Operation {
        var id: UInt64
        var mustCommit: Bool
        var apply: (inout Decider, Date) -> Applied
    }

    private struct Applied {
        var records: [AuditEvent]
        var starts: [Decider.Start]
        var stops: [String]
        var verificationsEnded: [String]
        var value: any Sendable
    }

    private enum Wake {
        case done(Result<any Sendable, any Error>)
        /// The previous committer handed over: commit the batch this operation is in.
        case commit
    }

    private var operations: [Operation] = []
    private var nextOperation: UInt64 = 0
    private var committing = false
    private var waiters: [UInt64: CheckedContinuation<Wake, Never>] = [:]
    private var results: [UInt64: Result<any Sendable, any Error>] = [:]

    /// Applies one transition: queued behind the batch being committed, committed with the operations that
    /// queued meanwhile (group commit), and answered once its records are durable.
    private func perform<Answer: Sendable>(
        mustCommit: Bool, _ transition: @escaping (inout Decider, Date) -> Decider.Transition<Answer>
    ) async throws -> Answer {
        let id = enqueueOperation(mustCommit: mustCommit, transition)
        if committing {
            // Appending and registering happen in one actor turn, so the committer always finds the waiter.
            switch await withCheckedContinuation({ waiters[id] = $0 }) {
            case .done(let result): return try Self.cast(result)
            case .commit: break
            }
        }
        committing = true
        while results[id] == nil { await commitBatch(owner: id) }
        // Operations the engine queued for itself (nobody waits on them) are committed by whoever holds the
        // commit; the first operation somebody waits on takes over.
        while let next = operations.first, waiters[next.id] == nil { await commitBatch(owner: id) }
        if let next = operations.first {
            waiters.removeValue(forKey: next.id)!.resume(returning: .commit)
        } else {
            committing = false
        }
        return try Self.cast(results.removeValue(forKey: id)!)
    }

    @discardableResult
    private func enqueueOperation<Answer: Sendable>(
        mustCommit: Bool, _ transition: @escaping (inout Decider, Date) -> Decider.Transition<Answer>
    ) -> UInt64 {
        nextOperation += 1
        operations.append(
            Operation(id: nextOperation, mustCommit: mustCommit) { decider, now in
                let result = transition(&decider, now)
                return Applied(
                    records: result.records, starts: result.starts, stops: result.stops,
                    verificationsEnded: result.verificationsEnded, value: result.answer)
            })
        return nextOperation
    }

    private static func cast<Answer>(_ result: Result<any Sendable, any Error>) throws -> Answer {
        try result.get() as! Answer
    }

    private func commitBatch(owner: UInt64) async {
        let batch = operations
        operations = []
        let time = now()
        var before = decider
        var applied: [Applied] = []
        for operation in batch { applied.append(operation.apply(&decider, time)) }
        let records = applied.flatMap(\.records)
        var outcome: Result<Void, any Error> = .success(())
        if let shared, !records.isEmpty {
            // Decided again under the shared log's lock, with what the other replicas decided since this one
            // last looked (see `SharedAuditLog`).
            batches += 1
            let batchID = batches
            redecision = Redecision(id: batchID, before: before, batch: batch, time: time, applied: applied)
            do {
                // From where the state before the batch stands: a catch-up in the batch took records in that a
                // decision made again from `before` must take in too.
                let through = try await shared.append(seenThrough: before.foreignThrough) { foreign in
                    // A transaction that outlived its caller (a timeout) must not commit another batch's records.
                    await self.redecide(foreign, batch: batchID)
                }
                decider.sawThrough(through)
            } catch {
                outcome = .failure(error)
            }
            if let redecided = redecision {
                before = redecided.before
                applied = redecided.applied
                // What taking the others' records in decided (a forwarded cancel's end) stays decided: the
                // state going back keeps it. If its records did not commit, they are lost: say so.
                if case .failure(let error) = outcome, !redecided.takenIn.isEmpty {
                    trouble(.recordsLost(kinds: redecided.takenIn.map(\.kind), error: "\(error)"))
                }
            }
            redecision = nil
        } else if !records.isEmpty {
            do {
                try await audit.append(batch: records)
            } catch {
                outcome = .failure(error)
            }
        }
        if case .failure(let error) = outcome {
            // Nothing of the batch was recorded: back to the state before it. Runs that ended did end, though:
            // apply those again (without their records, which are reported lost).
            decider = before
            for (index, operation) in batch.enumerated() where !operation.mustCommit {
                let again = operation.apply(&decider, time)
                if !again.records.isEmpty {
                    trouble(.recordsLost(kinds: again.records.map(\.kind), error: "\(error)"))
                }
                applied[index] = again
            }
        }
        for (index, operation) in batch.enumerated() {
            let result: Result<any Sendable, any Error>
            if operation.mustCommit, case .failure(let error) = outcome {
                result = .failure(error)
            } else {
                act(on: applied[index])
                result = .success(applied[index].value)
            }
            if operation.id == owner {
                results[operation.id] = result
            } else if let waiter = waiters.removeValue(forKey: operation.id) {
                waiter.resume(returning: .done(result))
            }
        }
    }

    /// The batch being committed to a shared log, while it may be decided again.
    private struct Redecision {
        var id: UInt64
        var before: Decider
        var batch: [Operation]
        var time: Date
        var applied: [Applied]
        var takenIn: [AuditEvent] = []
    }
    private var redecision: Redecision?
    private var batches: UInt64 = 0

    /// Called by the shared log under its lock: takes in the other replicas' records and, if there are any,
    /// decides the batch again on top of them; returns the records to append.
    private func redecide(_ foreign: ForeignDecisions, batch: UInt64) -> [AuditEvent] {
        guard var current = redecision, current.id == batch else { return [] }
        let fresh = foreign.records.filter { $0.seq > current.before.foreignThrough }
        if !fresh.isEmpty {
            decider = current.before
            let takenIn = decider.observeForeign(fresh, through: foreign.through, now: current.time)
            // A failure from here on goes back to the state that has the others' records in it.
            current.before = decider
            for (index, operation) in current.batch.enumerated() {
                current.applied[index] = operation.apply(&decider, current.time)
            }
            current.takenIn = takenIn.records
            redecision = current
            act(
                on: Applied(
                    records: [], starts: takenIn.starts, stops: takenIn.stops,
                    verificationsEnded: takenIn.verificationsEnded, value: ()))
        }
        // What taking the others' records in decided here (a forwarded cancel's end) is appended first.
        return current.takenIn + current.applied.flatMap(\.records)
    }

    /// Takes in what other replicas decided while this one decided nothing; runs beside `run()`.
    private func catchUp() async {
        guard let shared else { return }
        while !shutdownSignal.isTriggered, !Task.isCancelled {
            try? await clock.sleep(for: configuration.replicaCatchUp)
            guard
                let records = try? await shared.foreignPolicyRecords(after: decider.foreignThrough, limit: 1_000),
                let last = records.last
            else { continue }
            // A transition like any other, so it is ordered with this replica's own decisions (and undone with
            // them if their commit fails); records already taken in by a decision meanwhile are skipped.
            _ = try? await perform(mustCommit: false) { decider, now in
                decider.observeForeign(records, through: last.seq, now: now)
            }
        }
    }

    /// After the commit: stop what was cancelled, hand what may start to the run loop. Once shutting down,
    /// nothing starts: such runs are ended `cancelled` by a transition of their own (queued here, committed by
    /// whoever holds the commit), so every decided run still gets its one `run.finished`.
    private func act(on applied: Applied) {
        for runID in applied.stops { stops[runID]?.trigger() }
        for runID in applied.verificationsEnded {
            verificationTasks.removeValue(forKey: runID)?.cancel()
            // Verified or not, the alert pages again (if it still fires).
            if silences[runID] != nil {
                verificationWork += 1
                Task {
                    await self.expireSilence(of: runID, because: "its verification was decided")
                    await self.verificationWorkEnded()
                }
            }
        }
        var unstarted: [String] = []
        for start in applied.starts {
            if shuttingDown {
                unstarted.append(start.runID)
                continue
            }
            stops[start.runID] = StopSignal()
            if case .terminated = enqueue.yield(start) {
                // The run loop is gone (finished or cancelled): this run will not start either.
                stops[start.runID] = nil
                unstarted.append(start.runID)
            }
        }
        if !unstarted.isEmpty {
            enqueueOperation(mustCommit: false) { decider, now in
                decider.abandon(unstarted, reason: Self.stoppingReason, now: now)
            }
        }
    }

    static let stoppingReason = "medic stopped before the run started"

    // MARK: Running

    /// Begins a graceful shutdown (safe to call from a signal or shutdown handler).
    public nonisolated func shutDown() {
        shutdownSignal.trigger()
    }

    /// No run starts any more: runs still waiting (for approval, a lock or a slot) end `cancelled`, recorded,
    /// and the run loop stops taking work; running runs go on for the grace period.
    private func beginShutdown() async {
        shuttingDown = true
        // Pending verifications stay pending in the audit log; the next `medic serve` watches them again.
        for task in verificationTasks.values { task.cancel() }
        verificationTasks = [:]
        _ = try? await perform(mustCommit: false) { decider, now in
            decider.abandon(decider.notRunning, reason: Self.stoppingReason, now: now)
        }
        enqueue.finish()
    }

    /// A run handed to the loop that will not start (shutting down): ended `cancelled`, recorded.
    private func abandon(_ runID: String) async {
        stops[runID] = nil
        _ = try? await perform(mustCommit: false) { decider, now in
            decider.abandon([runID], reason: Self.stoppingReason, now: now)
        }
    }

    private func stopAll() {
        for stop in stops.values { stop.trigger() }
    }

    private func stopSignal(for runID: String) -> StopSignal? {
        shuttingDown ? nil : stops[runID]
    }

    /// A run the executor finished: release what it held, start what waited, escalate a run that needs people,
    /// and begin verifying one that succeeded and has `verify`.
    private func finished(
        _ runID: String, outcome: RunOutcome, killsUnconfirmed: [String] = [], report: RunReport? = nil,
        prepared: PreparedRun? = nil
    ) async {
        stops[runID] = nil
        let (escalations, pending): ([Escalation], PendingVerification?) =
            (try? await perform(mustCommit: false) { decider, now in
                let transition = decider.finished(
                    runID, outcome: outcome, killsUnconfirmed: killsUnconfirmed, startedAt: report?.startedAt,
                    finishedAt: report?.finishedAt, now: now)
                return Decider.Transition(
                    answer: (transition.escalations, decider.verifications[runID]), records: transition.records,
                    starts: transition.starts, verificationsEnded: transition.verificationsEnded)
            }) ?? ([], nil)
        if let pending {
            arm(pending, prepared: prepared)
        } else if decider.verifications[runID] == nil {
            await expireSilence(
                of: runID, because: outcome == .succeeded ? "the run succeeded" : "the run ended \(outcome.rawValue)")
        }
        await escalate(escalations)
    }

    // MARK: Silences

    /// `policy.silence`: before the run's first step, a silence on the alert's labels, recorded under the run.
    /// One that cannot be created is recorded and escalated; the run goes on (paging is not held).
    private func silence(_ start: Decider.Start) async {
        guard let duration = start.prepared.runbook.policy.silenceFor, let alert = start.prepared.context.alert,
            stops[start.runID]?.isTriggered != true
        else { return }
        let runID = start.runID
        let held = { (id: String) in
            HeldSilence(id: id, runbook: start.prepared.runbook, alert: alert, groupKey: start.groupKey)
        }
        guard let alertmanager else {
            await silenceFailed(held(""), runID: runID, action: "create", reason: "medic serve has no --alertmanager-url")
            return
        }
        let until = now().addingTimeInterval(Double(duration.milliseconds) / 1000)
        do {
            let id = try await alertmanager.createSilence(
                labels: alert.labels, until: until,
                comment: "medic run \(runID) (\(start.prepared.runbook.id)) is remediating this alert")
            silences[runID] = held(id)
            await record(
                AuditEvent(
                    time: now(), kind: .silenceCreated, runID: runID,
                    body: ["silence_id": .string(id), "until": .string(RFC3339.format(until))]))
        } catch {
            await silenceFailed(held(""), runID: runID, action: "create", reason: "\(error)")
        }
    }

    /// A silence that could not be created or expired: recorded and escalated (`silence_failed`), once.
    private func silenceFailed(_ silence: HeldSilence, runID: String, action: String, reason: String) async {
        var body: [String: JSONValue] = ["action": .string(action), "reason": .string(reason)]
        if !silence.id.isEmpty { body["silence_id"] = .string(silence.id) }
        await record(AuditEvent(time: now(), kind: .silenceFailed, runID: runID, body: body))
        let escalation = Escalation(
            runbook: silence.runbook, alert: silence.alert, groupKey: silence.groupKey, runID: runID,
            reasons: [.silenceFailed],
            details: [
                action == "create"
                    ? "the silence for run \(runID) could not be created (paging is not held): \(reason)"
                    : "the silence \(silence.id) of run \(runID) could not be expired (its alert stays muted until it ends): \(reason)"
            ])
        await record(escalation.record(now: now()))
        await escalate([escalation])
    }

    /// A record nobody waits for: written, or reported lost.
    private func record(_ event: AuditEvent) async {
        do {
            try await audit.append(event)
        } catch {
            trouble(.recordsLost(kinds: [event.kind], error: "\(error)"))
        }
    }

    /// The silence a run's records say it still holds (a restart).
    private func heldSilence(of runID: String) async -> String? {
        guard alertmanager != nil, let runRecords, let records = try? await runRecords(runID) else { return nil }
        let created = records.filter { $0.auditKind == .silenceCreated }.compactMap { $0.bodyValue["silence_id"] as? String }
        let expired = Set(
            records.filter { $0.auditKind == .silenceExpired }.compactMap { $0.bodyValue["silence_id"] as? String })
        return created.first { !expired.contains($0) }
    }

    /// Expires the silence `runID` holds, if any: once (it leaves the table first), never retried forever; a
    /// failure is recorded and escalated.
    private func expireSilence(of runID: String, because why: String) async {
        guard let silence = silences.removeValue(forKey: runID), let alertmanager else { return }
        do {
            try await alertmanager.expireSilence(silence.id)
            await record(
                AuditEvent(
                    time: now(), kind: .silenceExpired, runID: runID,
                    body: ["silence_id": .string(silence.id), "because": .string(why)]))
        } catch {
            await silenceFailed(silence, runID: runID, action: "expire", reason: "\(error)")
        }
    }

    /// At start: active silences Medic made for runs that are neither running nor verifying (Medic died while
    /// they ran) are expired, so paging is not held for a dead run.
    private func expireOrphanedSilences() async {
        guard let alertmanager, let held = try? await alertmanager.medicSilences() else { return }
        for silence in held {
            let words = silence.comment.split(separator: " ")
            guard words.count > 2, words[0] == "medic", words[1] == "run" else { continue }
            let runID = String(words[2])
            if decider.runs[runID] != nil || decider.verifications[runID] != nil || silences[runID] != nil { continue }
            do {
                try await alertmanager.expireSilence(silence.id)
                await record(
                    AuditEvent(
                        time: now(), kind: .silenceExpired, runID: runID,
                        body: ["silence_id": .string(silence.id), "because": "its run ended while Medic was down"]))
            } catch {
                trouble(.escalationFailed(runbook: "", reason: "silence \(silence.id) of run \(runID) could not be expired: \(error)"))
            }
        }
    }

    private func verificationWorkEnded() { verificationWork -= 1 }

    private func escalate(_ escalations: [Escalation]) async {
        for escalation in escalations where escalation.runbook.policy.escalateToAlertmanager {
            await postEscalation(escalation)
        }
        for escalation in escalations {
            if escalation.runbook.policy.escalate == nil, escalation.runbook.policy.escalateToAlertmanager { continue }
            if let body = escalation.runbook.policy.escalate {
                await runEscalation(body, for: escalation)
            } else {
                trouble(.escalatedWithoutHook(runID: escalation.runID, details: escalation.details))
            }
        }
    }

    /// `policy.escalate: {alertmanager: true}`: a `MedicEscalation` alert with the original alert's labels (its
    /// `alertname` kept as `original_alertname`), `runbook` and `reason`, so the team's own routing pages.
    private func postEscalation(_ escalation: Escalation) async {
        var labels: [String: String] = [:]
        for (name, value) in escalation.alert?.labels ?? [:] {
            // Alertmanager refuses label names beyond [a-zA-Z_][a-zA-Z0-9_]*; Medic's own names win, the
            // alert's are kept as original_NAME.
            guard Identifier.isLabelName(name) else { continue }
            let mine = ["alertname", "runbook", "reason"].contains(name) || name.hasPrefix("original_")
            labels[mine ? "original_" + name : name] = value
        }
        labels["alertname"] = "MedicEscalation"
        labels["runbook"] = escalation.runbook.id
        labels["reason"] = escalation.reasons[0].rawValue
        let what = labels["original_alertname"] ?? escalation.runbook.id
        let annotations = [
            "summary":
                "Medic could not fix \(what) on its own (\(escalation.reasons.map(\.rawValue).joined(separator: ", ")))",
            "description": escalation.details.joined(separator: "\n"),
            "run_id": escalation.runID,
        ]
        let reason: String
        if let alertmanager {
            do {
                try await alertmanager.postAlert(
                    labels: labels, annotations: annotations, startsAt: now(), endsAt: now().addingTimeInterval(3600))
                return
            } catch {
                reason = "posting MedicEscalation to Alertmanager failed: \(error)"
            }
        } else {
            reason = "escalate.alertmanager is set but medic serve has no --alertmanager-url"
        }
        trouble(.escalationFailed(runbook: escalation.runbook.id, reason: reason))
        try? await audit.append(
            AuditEvent(
                time: now(), kind: .escalationFailed, runID: "",
                body: [
                    "runbook": .string(escalation.runbook.id), "group_key": .string(escalation.groupKey),
                    "escalates": .string(escalation.runID), "reason": .string(reason),
                ]))
    }

    /// Runs `policy.escalate` as a one-step run of its own, audited like any other, with the escalation in its
    /// environment (`Escalation.environment`). A failure to prepare, record or succeed is recorded
    /// (`escalation.failed`) when the log takes it, and reported either way.
    private func runEscalation(_ body: StepBody, for escalation: Escalation) async {
        let runbook = Runbook(
            id: "\(escalation.runbook.id)-escalate", params: escalation.runbook.params,
            steps: [Step(id: "escalate", body: body)])
        let runID = PreparedRun.newRunID(now: now())
        let reason: String
        switch PreparedRun.prepare(
            runbook, runID: runID, given: [:], alert: escalation.alert, environment: environment)
        {
        case .failure(let problems):
            reason = "cannot prepare: " + problems.messages.joined(separator: "; ")
        case .success(var prepared):
            prepared.environmentOverrides = escalation.environment(escalationRunID: runID)
            let initiator = escalation.reasons == [.breakerOpened] ? "breaker" : "escalation"
            let executor = Executor(
                runner: runner, clock: clock, audit: audit, maxParallel: 1, initiator: initiator, now: now)
            do {
                // Stopped with the runs at the end of a shutdown's grace period, like any run.
                let stop = StopSignal()
                stops[runID] = stop
                defer { stops[runID] = nil }
                let report = try await executor.run(
                    prepared, cancel: stop,
                    provenance: [
                        "escalates": .string(escalation.runID),
                        "reasons": .array(escalation.reasons.map { .string($0.rawValue) }),
                    ])
                if report.outcome == .succeeded { return }
                reason = "the escalation run \(runID) ended \(report.outcome.rawValue)"
            } catch {
                reason = "the escalation run \(runID) could not be recorded: \(error)"
            }
        }
        trouble(.escalationFailed(runbook: escalation.runbook.id, reason: reason))
        let record = AuditEvent(
            time: now(), kind: .escalationFailed, runID: "",
            body: [
                "runbook": .string(escalation.runbook.id), "group_key": .string(escalation.groupKey),
                "escalates": .string(escalation.runID), "reason": .string(reason),
            ])
        do {
            try await audit.append(record)
        } catch {
            trouble(.recordsLost(kinds: [.escalationFailed], error: "\(error)"))
        }
    }

    /// Executes the runs the decider starts (it never starts more than `maxConcurrentRuns`) until the queue
    /// finishes or the calling task is cancelled. On shutdown, running runs are stopped (torn down, rolled
    /// back, recorded) after the grace period. Finished runs' tasks are discarded as they end, so a server that
    /// runs for months holds only the runs in flight.
    public func run() async {
        _ = try? await perform(mustCommit: true) { decider, now in decider.settleProven(now: now) }
        resumeVerifications()
        await expireOrphanedSilences()
        let executorTemplate = (runner, clock, audit, configuration.maxParallelSteps, now)
        let grace = configuration.shutdownGrace
        let clock = self.clock
        let queueEnded = StopSignal()
        let drained = self.drained
        await withDiscardingTaskGroup { group in
            if shared != nil { group.addTask { await self.catchUp() } }
            // The shutdown watcher: no new runs, then the grace period (cut short once no run executes), then
            // running runs are stopped. It also ends when the queue ends without a shutdown.
            group.addTask {
                await Self.firstOf(self.shutdownSignal, queueEnded)
                guard self.shutdownSignal.isTriggered, !Task.isCancelled else { return }
                await self.beginShutdown()
                await Self.firstOf(drained) { try? await clock.sleep(for: grace) }
                await self.stopAll()
            }
            for await start in queue {
                if Task.isCancelled { break }
                guard let stop = stopSignal(for: start.runID), !fenceSignal.isTriggered else {
                    await abandon(start.runID)
                    continue
                }
                let fence = fenceSignal
                executingRuns.insert(start.runID)
                executing += 1
                group.addTask {
                    let executor = Executor(
                        runner: executorTemplate.0, clock: executorTemplate.1, audit: executorTemplate.2,
                        maxParallel: executorTemplate.3, initiator: "alert", now: executorTemplate.4)
                    let outcome: RunOutcome
                    var killsUnconfirmed: [String] = []
                    var report: RunReport?
                    // Paging is held while the run works (`policy.silence`), before its first step.
                    await self.silence(start)
                    do {
                        let finished = try await withTaskCancellationHandler {
                            try await executor.run(
                                start.prepared, cancel: stop, fence: fence, provenance: ["decided_by": "policy gate"],
                                recordStart: !start.startRecorded, verification: start.verification)
                        } onCancel: {
                            stop.trigger()
                        }
                        outcome = finished.outcome
                        killsUnconfirmed = finished.killsUnconfirmed
                        report = finished
                    } catch let failure as Executor.AuditFailure {
                        outcome = failure.report.outcome
                        killsUnconfirmed = failure.report.killsUnconfirmed
                        await self.recordLostEnd(start.runID, outcome: outcome, error: failure.underlying)
                    } catch {
                        outcome = .cancelled
                    }
                    await self.finished(
                        start.runID, outcome: outcome, killsUnconfirmed: killsUnconfirmed, report: report,
                        prepared: start.prepared)
                    await self.executed(start.runID)
                    await self.executionEnded()
                }
            }
            // The queue is finished: the group waits for the running runs; the idle watcher ends now.
            queueHasEnded = true
            if executing == 0 { drained.trigger() }
            queueEnded.trigger()
        }
        // What a verification decision started (a rollback, an escalation) ends too before the engine does.
        let waited = ContinuousClock.now
        while verificationWork > 0, ContinuousClock.now - waited < grace + .seconds(30) {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    // MARK: Verification

    /// Starts watching a pending verification: its probe, and its deadline. `prepared` is the run as it ran;
    /// without it (after a restart) the run is prepared again from its records.
    private func arm(_ pending: PendingVerification, prepared: PreparedRun?) {
        guard verificationTasks[pending.runID] == nil, !shuttingDown else { return }
        verificationTasks[pending.runID] = Task { await self.watch(pending, prepared: prepared) }
    }

    /// Pending verifications rebuilt from the audit log (a restart): each is watched again (by `run()`); one
    /// whose deadline passed while Medic was down is decided at once.
    private func resumeVerifications() {
        for pending in decider.verifications.values.sorted(by: { $0.deadline < $1.deadline }) {
            arm(pending, prepared: nil)
        }
    }

    /// Verifications still waiting for their proof.
    public var pendingVerifications: [String] { decider.verifications.keys.sorted() }

    private func watch(_ pending: PendingVerification, prepared: PreparedRun?) async {
        let runID = pending.runID
        var probe: PreparedRun?
        if pending.needsProbe {
            switch await probeRun(for: pending, prepared: prepared) {
            case .success(let run): probe = run
            case .failure(let problem):
                await decideUnverified(runID, reason: "the probe cannot run: \(problem.reason)")
                return
            }
        }
        var attempt = 0
        var lastSeenFiring: Date?
        // After a restart, the silence the run holds is known from its records.
        if silences[runID] == nil, let runbook = runbooksByID[pending.runbook], runbook.policy.silenceFor != nil,
            let id = await heldSilence(of: runID)
        {
            let alert = pending.fingerprint.map {
                Alert(source: .alertmanager, status: .firing, labels: pending.alertLabels, fingerprint: $0)
            }
            silences[runID] = HeldSilence(id: id, runbook: runbook, alert: alert, groupKey: pending.groupKey)
        }
        while !Task.isCancelled, decider.verifications[runID] != nil {
            let left = pending.deadline.timeIntervalSince(now())
            if left <= 0 { break }
            let remaining = Duration.milliseconds(Int64(left * 1000))
            var pause = remaining
            // Only an Alertmanager alert is asked about there (a Grafana or JSON alert is not in it).
            if let source = resolutionSource, pending.needsResolution, pending.alertSource == "alertmanager",
                let fingerprint = pending.fingerprint, decider.verifications[runID]?.resolvedAt == nil
            {
                switch await source.state(fingerprint: fingerprint, labels: pending.alertLabels, lastSeenFiring: lastSeenFiring) {
                case .firing:
                    lastSeenFiring = now()
                case .resolved:
                    _ = try? await perform(mustCommit: true) { decider, now in
                        decider.resolvedAtSource(runID, source: source.name, now: now)
                    }
                    if decider.verifications[runID] == nil { return }
                case .unknown:
                    break
                }
                pause = min(pause, configuration.resolutionPoll)
            }
            if let probe, decider.verifications[runID]?.probePassedAt == nil {
                attempt += 1
                guard let again = await runProbe(probe, of: runID, attempt: attempt, within: remaining) else { return }
                if again, let every = probe.runbook.verify?.probe?.every { pause = min(pause, every) }
            }
            do {
                try await clock.sleep(for: pause)
            } catch {
                return
            }
        }
        guard !Task.isCancelled, decider.verifications[runID] != nil else { return }
        await decideUnverified(runID, reason: nil)
    }

    /// The probe of `pending` as a run of its own: from the run as it ran, or prepared again from its records.
    private func probeRun(for pending: PendingVerification, prepared: PreparedRun?) async -> Result<
        PreparedRun, PreparedRun.TargetProblem
    > {
        var source = prepared
        if source == nil {
            switch await preparedAgain(pending.runID, runbook: pending.runbook) {
            case .success(let (run, _)): source = run
            case .failure(let problem): return .failure(problem)
            }
        }
        guard let source, let probe = source.probeRun() else {
            return .failure(.init(reason: "runbook '\(pending.runbook)' has no verify.probe any more"))
        }
        return probe
    }

    /// A run prepared again from its records with the runbook as loaded now (params, secrets from their
    /// sources, step outputs), and the steps that succeeded, in order.
    private func preparedAgain(_ runID: String, runbook id: String) async -> Result<
        (PreparedRun, [String]), PreparedRun.TargetProblem
    > {
        guard let runRecords else { return .failure(.init(reason: "the run's records cannot be read back")) }
        guard let runbook = runbooksByID[id] else {
            return .failure(.init(reason: "runbook '\(id)' is no longer loaded"))
        }
        let records: [AuditRecord]
        do {
            records = try await runRecords(runID)
        } catch {
            return .failure(.init(reason: "the run's records cannot be read: \(error)"))
        }
        guard let run = InterruptedRun(records: records) else {
            return .failure(.init(reason: "the run has no run.started record"))
        }
        switch run.prepare(with: runbook, environment: environment) {
        case .success(let prepared): return .success((prepared.run, prepared.succeeded))
        case .failure(let problems): return .failure(.init(reason: problems.description))
        }
    }

    /// One probe attempt: `verify.probe_started` committed before the command runs, then the attempt, then
    /// `verify.probe_finished` with the decider's verdict. Returns whether to probe again; nil when the
    /// verification was decided meanwhile or the attempt could not be recorded.
    private func runProbe(_ probe: PreparedRun, of runID: String, attempt: Int, within remaining: Duration) async
        -> Bool?
    {
        var request = probe.probeRequest(attempt: attempt)
        request.timeout = min(request.timeout ?? remaining, remaining)
        var started: [String: JSONValue] = [
            "attempt": JSONValue(attempt), "env": .array(request.environment.keys.sorted().map(JSONValue.string)),
            "timeout_ms": request.timeout.map { JSONValue(Int($0.milliseconds)) } ?? .null,
        ]
        switch request.command {
        case .argv(let argv): started["argv"] = .array(probe.redactor.redact(argv).map(JSONValue.string))
        case .shell(let script): started["shell"] = .string(script)
        }
        if let target = request.target { started["target"] = .string(probe.redactor.redact(target.description)) }
        let record = started
        do {
            try await perform(mustCommit: true) { decider, now in
                Decider.Transition(
                    answer: (),
                    records: decider.verifications[runID] == nil
                        ? [] : [AuditEvent(time: now, kind: .verifyProbeStarted, runID: runID, body: record)])
            }
        } catch {
            // Not recorded, so not run: try again after the pause.
            return true
        }
        guard decider.verifications[runID] != nil else { return nil }
        let stop = StopSignal()
        let runner = self.runner
        let raw = await withTaskCancellationHandler {
            await runner.run(request, stop: stop)
        } onCancel: {
            stop.trigger()
        }
        let result = raw.redacted(by: probe.redactor)
        var body = result.jsonFields
        body["attempt"] = JSONValue(attempt)
        let finished = body
        let summary =
            result.launchFailure
            ?? (result.timedOut ? "timed out" : result.exitCode.map { "exit \($0)" } ?? "signal \(result.signal ?? 0)")
        let passed = result.succeeded
        // Committed, or not applied at all (the probe then runs again): a pass is never only in memory.
        return (try? await perform(mustCommit: true) { decider, now in
            decider.probeFinished(
                runID, passed: passed, summary: summary,
                record: AuditEvent(time: now, kind: .verifyProbeFinished, runID: runID, body: finished), now: now)
        }) ?? true
    }

    /// The deadline passed (or the proof cannot be had): `run.unverified`, then what `on_unverified` asks.
    private func decideUnverified(_ runID: String, reason: String?) async {
        verificationTasks[runID] = nil
        // Committed before anything acts on it: a decision only in memory would be taken again after a
        // restart (escalated and counted twice). A failed commit leaves the decider as it was; try again.
        var decided: ([Escalation], [PendingVerification])?
        while decided == nil, !shuttingDown, decider.verifications[runID] != nil {
            decided = try? await perform(mustCommit: true) { decider, now in
                let transition = decider.verificationDue(runID, reason: reason, now: now)
                return Decider.Transition(
                    answer: (transition.escalations, transition.unverifiedRollbacks), records: transition.records,
                    verificationsEnded: transition.verificationsEnded)
            }
            if decided == nil { try? await clock.sleep(for: .seconds(1)) }
        }
        guard let (escalations, rollbacks) = decided else { return }
        verificationWork += 1
        defer { verificationWork -= 1 }
        await escalate(escalations)
        for pending in rollbacks { await rollBackUnverified(pending) }
    }

    /// Escalations and rollbacks a verification decision started and that have not ended: shutdown waits for
    /// them (they are stopped with the runs at the end of the grace period).
    private var verificationWork = 0

    /// `on_unverified: rollback`: the run's succeeded steps are undone in reverse order, recorded under the run
    /// (`rollback.started`, attempts, `rollback.finished`); a failure escalates.
    private func rollBackUnverified(_ pending: PendingVerification) async {
        var detail = ""
        var succeeded = false
        switch await preparedAgain(pending.runID, runbook: pending.runbook) {
        case .failure(let problem):
            detail = "nothing was rolled back: \(problem.reason)"
        case .success(let (prepared, steps)):
            let executor = Executor(
                runner: runner, clock: clock, audit: audit, maxParallel: configuration.maxParallelSteps,
                initiator: "verification", now: now)
            let stop = StopSignal()
            stops[pending.runID] = stop
            defer { stops[pending.runID] = nil }
            do {
                let report = try await executor.run(
                    prepared, cancel: stop, recordStart: false, startWith: .rollBackUnverified(succeeded: steps),
                    recordFinish: false)
                succeeded = report.outcome == .interrupted
                detail = succeeded ? "" : "the rollback ended \(report.outcome.rawValue)"
            } catch {
                detail = "the rollback could not be recorded: \(error.underlying)"
            }
        }
        let escalations: [Escalation] =
            (try? await perform(mustCommit: false) { decider, now in
                let transition = decider.unverifiedRollbackFinished(
                    pending, succeeded: succeeded, detail: detail, now: now)
                return Decider.Transition(answer: transition.escalations, records: transition.records)
            }) ?? []
        await escalate(escalations)
    }

    /// Runs handed to an executor and not yet ended (the run loop's own count).
    private var executing = 0
    private var queueHasEnded = false
    /// Triggered once the queue has ended and no run executes: the shutdown grace need not be waited out.
    private let drained = StopSignal()

    private func executed(_ runID: String) { executingRuns.remove(runID) }

    private func executionEnded() {
        executing -= 1
        if queueHasEnded, executing == 0 { drained.trigger() }
    }

    /// Returns when `signal` is triggered or `work` returns, whichever comes first.
    private static func firstOf(_ signal: StopSignal, _ work: @escaping @Sendable () async -> Void) async {
        await withTaskGroup(of: Void.self) { race in
            race.addTask { await signal.wait() }
            race.addTask { await work() }
            await race.next()
            race.cancelAll()
        }
    }

    /// Returns when either signal is triggered.
    private static func firstOf(_ first: StopSignal, _ second: StopSignal) async {
        await firstOf(first) { await second.wait() }
    }

    /// The executor could not record a run's end (the audit log failed mid-run): try again a few times, so the
    /// run is not taken for interrupted (and rolled back by `on_interrupt: rollback`) on the next start; report
    /// it either way.
    private func recordLostEnd(_ runID: String, outcome: RunOutcome, error: any Error) async {
        trouble(.recordsLost(kinds: [.runFinished], error: "\(error)"))
        // A fenced run's end is written once, by the replica's fence handling (or another replica's sweep).
        guard !fencedRuns.contains(runID) else { return }
        let end = AuditEvent(
            time: now(), kind: .runFinished, runID: runID,
            body: [
                "outcome": .string(outcome.rawValue),
                "reason": .string("recorded late: the audit log failed during the run (\(error))"),
            ])
        for attempt in 0..<3 {
            if attempt > 0 { try? await clock.sleep(for: .seconds(attempt)) }
            if (try? await audit.append(end)) != nil { return }
        }
    }

    /// Stops accepting queued work (the `run()` loop ends once running runs finish).
    public func finishQueue() {
        enqueue.finish()
    }
}
