/// `verify`: what proves that a run which succeeded fixed the fault (docs/runbook-reference.md, `verify`).
public struct Verify: Sendable, Equatable {
    /// What happens when the proof does not come in time.
    public enum OnUnverified: String, Sendable, Equatable, CaseIterable {
        /// Escalate (`policy.escalate`, reason `unverified`): the default.
        case escalate
        /// Roll back the run's succeeded steps, as a failure would, and escalate if that fails.
        case rollback
        /// Only record it (it still counts as a failure for the breaker).
        case record
    }

    /// A readonly check re-run every `every` until it exits 0.
    public struct Probe: Sendable, Equatable {
        public var body: StepBody
        public var every: Duration

        public init(body: StepBody, every: Duration) {
            self.body = body
            self.every = every
        }
    }

    /// The deadline, counted from the run's success.
    public var within: Duration
    /// Whether the alert must resolve; nil: when an alert started the run.
    public var resolved: Bool?
    public var probe: Probe?
    public var onUnverified: OnUnverified

    public init(within: Duration, resolved: Bool? = nil, probe: Probe? = nil, onUnverified: OnUnverified = .escalate) {
        self.within = within
        self.resolved = resolved
        self.probe = probe
        self.onUnverified = onUnverified
    }

    /// Whether the alert's resolution is part of the proof for a run started by `alert` (or by none).
    public func needsResolution(alert: Alert?) -> Bool { resolved ?? (alert != nil) }
}
