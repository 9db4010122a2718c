/// What a runbook may do on its own: mode, locks, caps, breaker, deadline and failure handling.
public struct Policy: Sendable, Equatable {
    public var mode: Mode
    /// Rendered to a lock key: at most one run per key at a time, across all runbooks.
    public var concurrency: Template?
    public var maxRuns: RateLimit?
    public var circuitBreaker: CircuitBreaker?
    /// Deadline for the whole run, rollback excluded.
    public var timeout: Duration?
    public var onFailure: FailureHandling
    /// What the next `medic serve` does with a run whose Medic process died mid-run.
    public var onInterrupt: InterruptHandling
    /// Names of Medic's own environment variables that steps may see.
    public var inheritEnv: [String]
    /// When the concurrency lock is held: wait for it (true) or suppress the run (false, the default).
    public var queue: Bool
    /// Runs when a run ends needing people (`Escalation`), for example a command that pages a human.
    public var escalate: StepBody?
    /// `escalate: {alertmanager: true}`: an escalation is also posted to Alertmanager as a `MedicEscalation`
    /// alert carrying the original alert's labels.
    public var escalateToAlertmanager = false
    /// `silence: {for: 15m}`: while a run works, its alert is silenced in Alertmanager.
    public var silenceFor: Duration?

    public init(
        mode: Mode = .autonomous, concurrency: Template? = nil, maxRuns: RateLimit? = nil,
        circuitBreaker: CircuitBreaker? = nil, timeout: Duration? = nil, onFailure: FailureHandling = .rollback,
        inheritEnv: [String] = [], queue: Bool = false, escalate: StepBody? = nil,
        onInterrupt: InterruptHandling = .record
    ) {
        self.onInterrupt = onInterrupt
        self.mode = mode
        self.concurrency = concurrency
        self.maxRuns = maxRuns
        self.circuitBreaker = circuitBreaker
        self.timeout = timeout
        self.onFailure = onFailure
        self.inheritEnv = inheritEnv
        self.queue = queue
        self.escalate = escalate
    }

    /// How a matched runbook is allowed to act.
    public enum Mode: String, Sendable, Equatable, CaseIterable {
        /// Runs on its own.
        case autonomous
        /// Matches, plans and audits, never executes.
        case shadow
        /// Waits for an operator's approval before executing.
        case approval
    }

    /// What happens when a step fails for good.
    /// After a crash: only record the run as `interrupted` (the default), or roll back its succeeded steps.
    public enum InterruptHandling: String, Sendable, Equatable, CaseIterable {
        case record, rollback
    }

    public enum FailureHandling: String, Sendable, Equatable, CaseIterable {
        case rollback, stop
    }

    /// At most `count` runs per `per` window.
    public struct RateLimit: Sendable, Equatable {
        public var count: Int
        public var per: Duration

        public init(count: Int, per: Duration) {
            self.count = count
            self.per = per
        }
    }

    /// After `failures` failed runs for one key within `within`, stop acting on that key and escalate.
    public struct CircuitBreaker: Sendable, Equatable {
        public var failures: Int
        public var within: Duration

        public init(failures: Int, within: Duration) {
            self.failures = failures
            self.within = within
        }
    }
}
