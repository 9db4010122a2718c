import Foundation

/// The safety policies between a matching trigger and a run, as pure decisions over remembered state:
/// dedup, breaker, cooldown, rate cap, global cap, locks, shadow and approval modes, and resolved alerts.
///
/// Time is passed in (`now`), so tests drive it by hand; the engine rebuilds the state from the audit log
/// on start by replaying `runStarted`/`runFinished`.
public struct PolicyGate: Sendable {
    /// Limits that apply across all runbooks.
    public struct Configuration: Sendable, Equatable {
        public var maxConcurrentRuns: Int?
        public var globalShadow: Bool
        /// How long a dedup entry lives after the alert (with a `startsAt`) was last seen, unless it resolves
        /// first. Alertmanager re-sends a firing alert every `repeat_interval` (4h by default), which keeps it.
        public var dedupWindow: Duration
        /// How long an alert without `startsAt` (a plain JSON sender that stamps nothing) is deduplicated from
        /// its first arrival: without a start time, a later arrival may be a new occurrence.
        public var unstampedDedupWindow: Duration

        /// `unstampedDedupWindow` is 5 minutes unless given, or `dedupWindow` where that is shorter.
        public init(
            maxConcurrentRuns: Int? = nil, globalShadow: Bool = false, dedupWindow: Duration = .seconds(24 * 3600),
            unstampedDedupWindow: Duration? = nil
        ) {
            self.maxConcurrentRuns = maxConcurrentRuns
            self.globalShadow = globalShadow
            self.dedupWindow = dedupWindow
            self.unstampedDedupWindow = unstampedDedupWindow ?? min(.seconds(300), dedupWindow)
        }
    }

    /// A trigger that matched an alert, with what the gate needs to know.
    public struct Candidate: Sendable, Equatable {
        public var runbook: Runbook
        public var trigger: Trigger
        public var alert: Alert
        /// `policy.concurrency` rendered with the run's params, if the runbook has one.
        public var lockKey: String?

        public init(runbook: Runbook, trigger: Trigger, alert: Alert, lockKey: String? = nil) {
            self.runbook = runbook
            self.trigger = trigger
            self.alert = alert
            self.lockKey = lockKey
        }

        /// The dedup/cooldown/breaker key: the `group_by` labels, or the alert fingerprint.
        public var groupKey: String {
            guard let labels = trigger.groupBy, !labels.isEmpty else { return "fingerprint=\(alert.fingerprint)" }
            return labels.map { "\($0)=\(alert.labels.value(forExactKey: $0) ?? "")" }.joined(separator: ",")
        }
    }

    /// Why a candidate was suppressed; `description` is what the audit log and `medic match` say.
    public enum Suppression: Sendable, Equatable, CustomStringConvertible {
        /// The run the same alert led to; nil when only a record older than the run's own names it.
        case duplicate(of: String?)
        case breakerOpen(key: String, until: Date)
        case cooldown(key: String, until: Date)
        case rateCap(count: Int, per: Duration, nextAllowed: Date)
        case globalCap(Int)
        case locked(key: String, by: String)
        /// The engine's queue of runs waiting to execute is full.
        case queueFull(capacity: Int)
        /// Refused before any history applies (params that break their rules, Grafana housekeeping alerts).
        case notRunnable(reason: String, message: String)

        public var reason: String {
            switch self {
            case .duplicate: "dedup"
            case .breakerOpen: "circuit_breaker"
            case .cooldown: "cooldown"
            case .rateCap: "max_runs"
            case .globalCap: "global_cap"
            case .locked: "concurrency"
            case .queueFull: "queue_full"
            case .notRunnable(let reason, _): reason
            }
        }

        public var description: String {
            switch self {
            case .duplicate(let run):
                "duplicate: the same alert (fingerprint and startsAt) already led to \(run.map { "run \($0)" } ?? "an earlier run")"
            case .breakerOpen(let key, let until):
                "circuit breaker open for \(key) until \(RFC3339.format(until)) (or medic breaker reset)"
            case .cooldown(let key, let until): "cooldown for \(key) until \(RFC3339.format(until))"
            case .rateCap(let count, let per, let next):
                "max_runs: \(count) runs in the last \(per.dslDescription); next allowed at \(RFC3339.format(next))"
            case .globalCap(let cap): "global cap of \(cap) concurrent runs reached"
            case .locked(let key, let run): "locked by run \(run) (concurrency key \(key))"
            case .queueFull(let capacity): "queue full (\(capacity) runs waiting)"
            case .notRunnable(_, let message): message
            }
        }
    }

    public enum Decision: Sendable, Equatable {
        case run(runID: String)
        case shadow(runID: String)
        case awaitingApproval(runID: String)
        /// Waits for the lock held by `behind`, then runs (`policy.queue: true`).
        case queued(runID: String, behind: String)
        case suppressed(Suppression)
    }

    private struct ActiveRun: Sendable {
        var lockKey: String?
        var waiting: Bool
    }

    /// A dedup entry: the run the alert led to, when it was first and last seen, and whether it had a start.
    private struct Seen: Sendable, Equatable {
        var runID: String?
        var first: Date
        var last: Date
        var stamped: Bool
        var fingerprint: String
    }

    public let configuration: Configuration
    private var active: [String: ActiveRun] = [:]
    private var locks: [String: String] = [:]
    /// Dedup: runbook|fingerprint|startsAt → the entry.
    private var seen: [String: Seen] = [:]
    private var lastStart: [String: Date] = [:]
    private var starts: [String: [Date]] = [:]
    private var failures: [String: [Date]] = [:]
    private var openBreakers: [String: Date] = [:]
    private var lastRunForFingerprint: [String: (runID: String, time: Date)] = [:]
    private var queues: [String: [String]] = [:]
    /// Runs known from replayed records (a restart's history, another replica's decisions) whose end has not
    /// been replayed yet.
    var replayedRuns: [String: ReplayedRun] = [:]

    struct ReplayedRun: Sendable {
        var runbook: String
        var groupKey: String
    }
    /// The longest cooldown, `max_runs.per` or breaker window of the loaded runbooks: what lies further back
    /// cannot be read by any window and is forgotten (`forget(now:)`).
    public private(set) var policyHorizon: Duration = .zero
    private var lastSweep = Date.distantPast
    private var sizeAfterSweep = 0

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Sets the horizon from the runbooks loaded now (call again on reload).
    public mutating func observeWindows(of runbooks: [Runbook]) {
        var longest = Duration.zero
        for runbook in runbooks {
            for trigger in runbook.triggers { longest = max(longest, trigger.cooldown ?? .zero) }
            longest = max(longest, runbook.policy.maxRuns?.per ?? .zero)
            longest = max(longest, runbook.policy.circuitBreaker?.within ?? .zero)
        }
        policyHorizon = longest
    }

    /// Runs the gate counts as started and not finished (running or waiting).
    public var activeRuns: Int { active.count }
    /// Concurrency locks held, and runs in line for one.
    public var heldLocks: Int { locks.count + queues.values.reduce(0) { $0 + $1.count } }

    /// How much the gate remembers: entries across its tables (for tests and `/metrics`).
    public var footprint: Int {
        active.count + locks.count + seen.count + lastStart.count + starts.values.reduce(0) { $0 + $1.count }
            + failures.values.reduce(0) { $0 + $1.count } + openBreakers.count + lastRunForFingerprint.count
            + queues.values.reduce(0) { $0 + $1.count } + replayedRuns.count
    }

    /// Forgets what no window can read any more at `now`: dedup entries past their window, starts, failures
    /// and breakers older than the policy horizon. Runs still active (running or waiting) are never forgotten.
    public mutating func forget(now: Date) {
        lastSweep = now
        let horizon = Self.seconds(policyHorizon)
        func recent(_ times: [Date]) -> [Date]? {
            let kept = times.filter { now.timeIntervalSince($0) < horizon }
            return kept.isEmpty ? nil : kept
        }
        seen = seen.filter { !isExpired($0.value, now: now) }
        lastStart = lastStart.filter { now.timeIntervalSince($0.value) < horizon }
        starts = starts.compactMapValues(recent)
        failures = failures.compactMapValues(recent)
        openBreakers = openBreakers.filter { now.timeIntervalSince($0.value) < horizon }
        let dedup = Self.seconds(max(configuration.dedupWindow, configuration.unstampedDedupWindow))
        lastRunForFingerprint = lastRunForFingerprint.filter { now.timeIntervalSince($0.value.time) < dedup }
        // A replayed run whose end was never replayed and that holds nothing any more.
        replayedRuns = replayedRuns.filter { active[$0.key] != nil }
    }

    /// `forget(now:)` once a minute of the gate's time, or sooner when the tables have doubled since the last
    /// sweep (a sweep costs a pass over the tables, so doubling keeps its cost constant per alert while a
    /// burst of distinct alerts cannot grow memory for a whole minute).
    public mutating func forgetIfDue(now: Date) {
        if now.timeIntervalSince(lastSweep) >= 60 || now < lastSweep || sweptTables > 2 * sizeAfterSweep + 1024 {
            forget(now: now)
            sizeAfterSweep = sweptTables
        }
    }

    /// The tables that grow with every distinct alert (what `forgetIfDue` watches).
    private var sweptTables: Int { seen.count + lastStart.count + lastRunForFingerprint.count }

    private func isExpired(_ entry: Seen, now: Date) -> Bool {
        entry.stamped
            ? now.timeIntervalSince(entry.last) >= Self.seconds(configuration.dedupWindow)
            : now.timeIntervalSince(entry.first) >= Self.seconds(configuration.unstampedDedupWindow)
    }

    /// Dedup: the same alert (fingerprint and startsAt) for the same runbook.
    private static func dedupKey(runbook: String, fingerprint: String, startsAt: String?) -> String {
        "\(runbook)|\(fingerprint)|\(startsAt ?? "")"
    }

    private static func dedupKey(_ candidate: Candidate) -> String {
        dedupKey(
            runbook: candidate.runbook.id, fingerprint: candidate.alert.fingerprint,
            startsAt: candidate.alert.startsAt.map(RFC3339.format))
    }

    /// Cooldown, breaker: one runbook and one group key.
    private static func scope(runbook: String, groupKey: String) -> String { "\(runbook)|\(groupKey)" }

    private static func scoped(_ candidate: Candidate) -> String {
        scope(runbook: candidate.runbook.id, groupKey: candidate.groupKey)
    }

    /// Decides one candidate. A decision other than `.suppressed` reserves the run id: the gate counts it as
    /// started (cooldown, rate cap, locks) until `runFinished`.
    ///
    /// `queue` is the room left among runs that wait (for a lock, or for an executor slot): a run that would
    /// wait for a lock when there is none is suppressed `queue_full`.
    public mutating func decide(
        _ candidate: Candidate, runID: String, now: Date, queue: QueueRoom = .unbounded
    ) -> Decision {
        let policy = candidate.runbook.policy
        let scope = Self.scoped(candidate)
        let dedupKey = Self.dedupKey(candidate)
        if let previous = seen[dedupKey] {
            if !isExpired(previous, now: now) {
                seen[dedupKey]?.last = max(previous.last, now)
                if let run = previous.runID { keepLastRun(run, for: candidate.alert.fingerprint, seen: now) }
                return .suppressed(.duplicate(of: previous.runID))
            }
            seen[dedupKey] = nil
        }
        if let opened = openBreakers[scope], let breaker = policy.circuitBreaker {
            let until = opened.addingTimeInterval(Self.seconds(breaker.within))
            if now < until { return .suppressed(.breakerOpen(key: candidate.groupKey, until: until)) }
            openBreakers[scope] = nil
            failures[scope] = nil
        }
        if let cooldown = candidate.trigger.cooldown, let last = lastStart[scope] {
            let until = last.addingTimeInterval(Self.seconds(cooldown))
            if now < until { return .suppressed(.cooldown(key: candidate.groupKey, until: until)) }
        }
        if let cap = policy.maxRuns {
            let window = Self.seconds(cap.per)
            let recent = (starts[candidate.runbook.id] ?? []).filter { now.timeIntervalSince($0) < window }
            starts[candidate.runbook.id] = recent
            if recent.count >= cap.count {
                return .suppressed(
                    .rateCap(count: cap.count, per: cap.per, nextAllowed: recent.min()!.addingTimeInterval(window)))
            }
        }
        let shadow = configuration.globalShadow || policy.mode == .shadow
        if !shadow {
            if let cap = configuration.maxConcurrentRuns, active.values.filter({ !$0.waiting }).count >= cap {
                return .suppressed(.globalCap(cap))
            }
        }
        var decision: Decision
        if shadow {
            decision = .shadow(runID: runID)
        } else if let key = candidate.lockKey, let holder = locks[key] {
            guard policy.queue else { return .suppressed(.locked(key: key, by: holder)) }
            guard queue.waiting < queue.capacity else { return .suppressed(.queueFull(capacity: queue.capacity)) }
            decision = .queued(runID: runID, behind: holder)
            queues[key, default: []].append(runID)
        } else {
            decision = policy.mode == .approval ? .awaitingApproval(runID: runID) : .run(runID: runID)
        }
        var waiting = false
        if case .queued = decision { waiting = true }
        if case .awaitingApproval = decision { waiting = true }
        if case .queued = decision {} else if !shadow, let key = candidate.lockKey { locks[key] = runID }
        remember(
            runID: runID, runbook: candidate.runbook.id, groupKey: candidate.groupKey, lockKey: candidate.lockKey,
            fingerprint: candidate.alert.fingerprint, startsAt: candidate.alert.startsAt.map(RFC3339.format), time: now,
            waiting: waiting, shadow: shadow, claimLock: false)
        return decision
    }

    /// Remembers a run that passed the gate (shared by `decide` and `replay`).
    mutating func remember(
        runID: String, runbook: String, groupKey: String, lockKey: String?, fingerprint: String, startsAt: String?,
        time: Date, waiting: Bool, shadow: Bool, claimLock: Bool = true
    ) {
        seen[Self.dedupKey(runbook: runbook, fingerprint: fingerprint, startsAt: startsAt)] = Seen(
            runID: runID, first: time, last: time, stamped: startsAt != nil, fingerprint: fingerprint)
        lastStart[Self.scope(runbook: runbook, groupKey: groupKey)] = time
        starts[runbook, default: []].append(time)
        lastRunForFingerprint[fingerprint] = (runID, time)
        guard !shadow else { return }
        active[runID] = ActiveRun(lockKey: lockKey, waiting: waiting)
        if claimLock, let lockKey {
            if locks[lockKey] == nil {
                locks[lockKey] = runID
            } else if waiting {
                queues[lockKey, default: []].append(runID)
            }
        }
    }

    /// Room among the runs that wait: `waiting` of at most `capacity`.
    public struct QueueRoom: Sendable, Equatable {
        public var waiting: Int
        public var capacity: Int

        public init(waiting: Int, capacity: Int) {
            self.waiting = waiting
            self.capacity = capacity
        }

        public static let unbounded = QueueRoom(waiting: 0, capacity: .max)
    }

    /// A replayed duplicate: the alert was seen again at `time`, so its dedup entry lives on.
    /// `runID` is nil for records written before duplicates named their run.
    mutating func refreshDuplicate(runID: String?, runbook: String, fingerprint: String, startsAt: String?, time: Date) {
        let key = Self.dedupKey(runbook: runbook, fingerprint: fingerprint, startsAt: startsAt)
        if let entry = seen[key] {
            seen[key]?.last = max(entry.last, time)
        } else {
            seen[key] = Seen(runID: runID, first: time, last: time, stamped: startsAt != nil, fingerprint: fingerprint)
        }
        if let runID { keepLastRun(runID, for: fingerprint, seen: time) }
    }

    /// An alert that keeps arriving keeps the run it led to as the one its resolution is recorded against.
    private mutating func keepLastRun(_ runID: String, for fingerprint: String, seen time: Date) {
        let current = lastRunForFingerprint[fingerprint]
        if current == nil || current!.runID == runID {
            lastRunForFingerprint[fingerprint] = (runID, max(current?.time ?? time, time))
        }
    }

    /// A replayed `breaker.opened`: the breaker is open from `time` for its window.
    /// A `breaker.opened` is only written for a fresh opening, so the latest one replayed wins.
    mutating func reopenBreaker(runbook: String, groupKey: String, at time: Date) {
        let scope = Self.scope(runbook: runbook, groupKey: groupKey)
        openBreakers[scope] = max(openBreakers[scope] ?? time, time)
    }

    /// An approved (or dequeued) run starts executing.
    public mutating func runBegan(_ runID: String) {
        active[runID]?.waiting = false
    }

    /// What the engine must do after a run ends.
    public struct Aftermath: Sendable, Equatable {
        /// The breaker for this key just opened: run the runbook's `policy.escalate`.
        public var escalate: Bool
        /// The next queued run for the released lock, if any.
        public var dequeued: String?
    }

    /// Records how a run ended: releases its lock (handing it to the next queued run), and counts failures
    /// towards the breaker of its key.
    public mutating func runFinished(
        _ runID: String, candidate: Candidate, outcome: RunOutcome, now: Date
    ) -> Aftermath {
        finishReplayed(runID, runbook: candidate.runbook, groupKey: candidate.groupKey, outcome: outcome, time: now)
    }

    @discardableResult
    mutating func finishReplayed(
        _ runID: String, runbook: Runbook?, groupKey: String, outcome: RunOutcome, time now: Date
    )
        -> Aftermath
    {
        var aftermath = Aftermath(escalate: false, dequeued: nil)
        let run = active.removeValue(forKey: runID)
        if let key = run?.lockKey, locks[key] != runID {
            // A run that was still waiting for the lock leaves the line.
            queues[key]?.removeAll { $0 == runID }
            if queues[key]?.isEmpty == true { queues[key] = nil }
        }
        if let key = run?.lockKey, locks[key] == runID {
            locks[key] = nil
            if var queue = queues[key], !queue.isEmpty {
                let next = queue.removeFirst()
                queues[key] = queue.isEmpty ? nil : queue
                locks[key] = next
                aftermath.dequeued = next
            }
        }
        guard [.failed, .rollbackFailed, .timedOut].contains(outcome) else { return aftermath }
        aftermath.escalate = countFailure(runbook: runbook, groupKey: groupKey, time: now)
        return aftermath
    }

    /// Counts a failure of `runbook` for `groupKey` (a failed run, or a run that succeeded and was not proven,
    /// `run.unverified`) towards its breaker; true when the breaker opens with it.
    public mutating func countFailure(runbook: Runbook?, groupKey: String, time now: Date) -> Bool {
        guard let runbook, let breaker = runbook.policy.circuitBreaker else { return false }
        let scope = Self.scope(runbook: runbook.id, groupKey: groupKey)
        let window = Self.seconds(breaker.within)
        var recent = (failures[scope] ?? []).filter { now.timeIntervalSince($0) < window }
        recent.append(now)
        failures[scope] = recent
        // An opening whose window has passed is closed (decide closes it too, but a replay never decides).
        let stillOpen = openBreakers[scope].map { now.timeIntervalSince($0) < window } ?? false
        if recent.count >= breaker.failures, !stillOpen {
            openBreakers[scope] = now
            return true
        }
        return false
    }

    /// `medic breaker reset RUNBOOK [KEY]`: closes the breaker of one key, or of every key of the runbook.
    public mutating func resetBreaker(runbook: String, key: String? = nil) -> Int {
        let matching = openBreakers.keys.filter { scope in
            scope.hasPrefix(runbook + "|") && (key == nil || scope == Self.scope(runbook: runbook, groupKey: key!))
        }
        for scope in matching {
            openBreakers[scope] = nil
            failures[scope] = nil
        }
        return matching.count
    }

    /// A resolved notification: the alert's dedup entries are forgotten (its next firing is a new occurrence,
    /// with a new `startsAt`), and the last run started for it is named, to record the resolution against.
    /// Runs still waiting for the alert are the engine's to cancel (`Decider`).
    public mutating func resolved(_ alert: Alert) -> String? {
        seen = seen.filter { $0.value.fingerprint != alert.fingerprint }
        return lastRunForFingerprint[alert.fingerprint]?.runID
    }

    static func seconds(_ duration: Duration) -> TimeInterval {
        Double(duration.milliseconds) / 1000
    }
}
