import Foundation
import MedicCore
import MedicExecution
import Prometheus
import Synchronization

/// What `GET /metrics` shows, in Prometheus text format.
///
/// Everything about alerts, decisions and runs is derived from the audit records as they are committed
/// (through ``ObservedAuditLog``), so the metrics can never tell a different story than the log: a record that failed
/// to commit is not counted. Only the HTTP answers are counted by the server itself.
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()

    /// Buckets for step durations: from a `true` (milliseconds) to a long drain (tens of minutes).
    static let stepBuckets: [Double] = [0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800]
    /// Buckets for time to remediation: alert receipt to a succeeded run.
    static let remediationBuckets: [Double] = [0.05, 0.25, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600]

    private struct RunInFlight {
        var runbook: String
        var started: Date
    }

    private struct State {
        /// Decision time (the alert's receipt) by run id, until the run finishes.
        var decided: [String: Date] = [:]
        var inFlight: [String: RunInFlight] = [:]
    }

    private let state = Mutex(State())
    /// Made at start, so a scrape of an idle server already shows them.
    private let runsInFlight: Gauge
    private let runbooksLoadedGauge: Gauge

    private let runsWaitingGauge: Gauge

    public init() {
        runsWaitingGauge = registry.makeGauge(
            descriptor: Self.name(
                "runs_waiting", "", "Runs decided and waiting for a run slot or their lock (the queue's depth)."))
        runsInFlight = registry.makeGauge(
            descriptor: Self.name("runs_in_flight", "", "Runs started and not yet finished."))
        runbooksLoadedGauge = registry.makeGauge(
            descriptor: Self.name("runbooks_loaded", "", "Runbooks in the loaded set."))
    }

    static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "medic", metricName: metric, unitName: unit, helpText: help)
    }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> String {
        registry.emitToString()
    }

    /// The dispatcher's queue depth, read at each scrape.
    public func runsWaiting(_ count: Int) {
        runsWaitingGauge.set(Int64(count))
    }

    /// A replica on a shared store: its name, how long its lease has left (0 when lost) and whether it is fenced.
    public func replica(_ id: String, leaseRemaining: Duration, fenced: Bool) {
        registry.makeGauge(
            descriptor: Self.name("replica_info", "", "This replica's name on the shared store (value 1)."),
            labels: [("replica", id)]
        ).set(Int64(1))
        let seconds = Double(leaseRemaining.components.seconds) + Double(leaseRemaining.components.attoseconds) / 1e18
        registry.makeGauge(
            descriptor: Self.name(
                "replica_lease_remaining", "seconds", "How long this replica's lease on the shared store has left.")
        ).set(Double(max(0, seconds)))
        registry.makeGauge(
            descriptor: Self.name(
                "replica_fenced", "", "1 while this replica has lost its lease and runs nothing, else 0.")
        ).set(Int64(fenced ? 1 : 0))
    }

    public func runbooksLoaded(_ count: Int) {
        runbooksLoadedGauge.set(Int64(count))
    }

    /// A failure nobody waited on (records lost, an escalation that failed): counted by what failed.
    public func trouble(_ trouble: Dispatcher.Trouble) {
        let what: String
        switch trouble {
        case .recordsLost: what = "audit_write"
        case .escalationFailed: what = "escalation"
        // Counted as an escalation (`run.escalated`) already; logged, not a failure of Medic's.
        case .escalatedWithoutHook: return
        }
        registry.makeCounter(
            descriptor: Self.name(
                "background_failures", "total",
                "Failures no request waited on: audit records that could not be written, escalations that failed."),
            labels: [("what", what)]
        ).increment()
    }

    public func reloaded(succeeded: Bool) {
        registry.makeCounter(
            descriptor: Self.name("reloads", "total", "Runbook reloads (POST /-/reload and SIGHUP) by result."),
            labels: [("result", succeeded ? "loaded" : "rejected")]
        ).increment()
    }

    /// One answered intake request: the endpoint's format and the HTTP status code.
    public func intakeAnswered(source: String, code: Int) {
        registry.makeCounter(
            descriptor: Self.name("intake_requests", "total", "Alert intake requests by source and HTTP status."),
            labels: [("source", source), ("code", String(code))]
        ).increment()
    }

    /// Called for every committed audit record.
    public func observe(_ event: AuditEvent) {
        switch event.kind {
        case .alertReceived:
            registry.makeCounter(
                descriptor: Self.name(
                    "alerts_received", "total", "Alerts recorded, by source (alertmanager, grafana, json) and status."),
                labels: [
                    ("source", event.body["source"]?.stringValue ?? ""),
                    ("status", event.body["status"]?.stringValue ?? ""),
                ]
            ).increment()
        case let kind where kind.isDecision:
            let decision = kind.decision ?? ""
            registry.makeCounter(
                descriptor: Self.name(
                    "decisions", "total", "Policy decisions per matching runbook, by decision and suppression reason."),
                labels: [("decision", decision), ("reason", event.body["reason"]?.stringValue ?? "")]
            ).increment()
            if !event.runID.isEmpty { state.withLock { $0.decided[event.runID] = event.time } }
        case .runStarted:
            let runbook = event.body["runbook"]?.stringValue ?? ""
            state.withLock { $0.inFlight[event.runID] = RunInFlight(runbook: runbook, started: event.time) }
            runsInFlight.increment()
        case .attemptFinished:
            guard let milliseconds = event.body["duration_ms"]?.intValue else { return }
            let runbook = state.withLock { $0.inFlight[event.runID]?.runbook } ?? ""
            registry.makeValueHistogram(
                descriptor: Self.name("step_duration", "seconds", "Duration of each step attempt, main and rollback."),
                labels: [
                    ("runbook", runbook), ("step", event.body["step"]?.stringValue ?? ""),
                    ("phase", event.body["phase"]?.stringValue ?? ""),
                ],
                buckets: Self.stepBuckets
            ).record(Double(milliseconds) / 1000)
        case .runFinished:
            let (run, decided) = state.withLock { state in
                (state.inFlight.removeValue(forKey: event.runID), state.decided.removeValue(forKey: event.runID))
            }
            let outcome = event.body["outcome"]?.stringValue ?? ""
            registry.makeCounter(
                descriptor: Self.name("runs", "total", "Finished runs by runbook and outcome."),
                labels: [("runbook", run?.runbook ?? ""), ("outcome", outcome)]
            ).increment()
            if run != nil {
                runsInFlight.decrement()
            }
            if outcome == "succeeded", let run {
                let since = decided ?? run.started
                registry.makeValueHistogram(
                    descriptor: Self.name(
                        "time_to_remediation", "seconds",
                        "From the alert's receipt (or the run's start) to the run's success, waiting included."),
                    labels: [("runbook", run.runbook)],
                    buckets: Self.remediationBuckets
                ).record(max(0, event.time.timeIntervalSince(since)))
            }
        case .runVerified, .runUnverified:
            let runbook = event.body["runbook"]?.stringValue ?? ""
            registry.makeCounter(
                descriptor: Self.name(
                    "runs_verified", "total",
                    "Runs with verify whose proof was decided, by runbook and result (verified, unverified)."),
                labels: [("runbook", runbook), ("result", event.kind == .runVerified ? "verified" : "unverified")]
            ).increment()
            if event.kind == .runVerified, let milliseconds = event.body["time_to_resolve_ms"]?.intValue {
                registry.makeValueHistogram(
                    descriptor: Self.name(
                        "time_to_resolve", "seconds",
                        "From the alert's startsAt to the proof that the fix held (verified runs an alert started)."),
                    labels: [("runbook", runbook)],
                    buckets: Self.remediationBuckets
                ).record(max(0, Double(milliseconds) / 1000))
            }
        case .runEscalated:
            registry.makeCounter(
                descriptor: Self.name(
                    "escalations", "total",
                    "Runs that ended needing people, by runbook and most urgent reason (kill_unconfirmed, rollback_failed, breaker_opened)."
                ),
                labels: [
                    ("runbook", event.body["runbook"]?.stringValue ?? ""),
                    ("reason", event.body["reason"]?.stringValue ?? ""),
                ]
            ).increment()
        default:
            break
        }
    }
}

/// An audit log that reports every record to observers (metrics, logs) once it is committed.
public struct ObservedAuditLog: AuditLog {
    public let base: any AuditLog
    public let observers: [@Sendable (AuditEvent) -> Void]

    public init(_ base: any AuditLog, observers: [@Sendable (AuditEvent) -> Void]) {
        self.base = base
        self.observers = observers
    }

    public var asShared: (any SharedAuditLog)? {
        base.asShared.map { ObservedSharedAuditLog(shared: $0, observed: self) }
    }

    public func append(_ event: AuditEvent) async throws {
        try await base.append(event)
        for observe in observers { observe(event) }
    }

    public func append(batch events: [AuditEvent]) async throws {
        try await base.append(batch: events)
        for event in events {
            for observe in observers { observe(event) }
        }
    }
}

/// The shared form of an ``ObservedAuditLog``: decisions appended through it are observed like any record.
struct ObservedSharedAuditLog: SharedAuditLog {
    let shared: any SharedAuditLog
    let observed: ObservedAuditLog

    func append(_ event: AuditEvent) async throws { try await observed.append(event) }
    func append(batch events: [AuditEvent]) async throws { try await observed.append(batch: events) }

    func append(
        seenThrough: Int64, deciding: @escaping @Sendable (ForeignDecisions) async -> [AuditEvent]
    ) async throws -> Int64 {
        let decided = Mutex<[AuditEvent]>([])
        let through = try await shared.append(seenThrough: seenThrough) { foreign in
            let events = await deciding(foreign)
            decided.withLock { $0 = events }
            return events
        }
        for event in decided.withLock({ $0 }) { for observe in observed.observers { observe(event) } }
        return through
    }

    func foreignPolicyRecords(after seq: Int64, limit: Int) async throws -> [AuditRecord] {
        try await shared.foreignPolicyRecords(after: seq, limit: limit)
    }

    func lastSequence() async throws -> Int64 { try await shared.lastSequence() }

    func runElsewhere(_ runID: String) async throws -> RunElsewhere? { try await shared.runElsewhere(runID) }
}
