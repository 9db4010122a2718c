/// Which runs to list (`medic audit list`, `GET /v1/runs`), newest first. Times are RFC 3339 strings, as stored.
public struct RunFilter: Sendable, Equatable {
    /// Runs started at or after this time.
    public var since: String?
    /// Runs started before this time.
    public var until: String?
    public var runbook: String?
    /// An outcome, or `running` for runs without an end record.
    public var outcome: String?
    public var alertname: String?
    /// An initiator; `operator` also matches `operator:NAME`.
    public var initiator: String?
    /// `none`, `pending`, `verified` or `unverified`.
    public var verification: RunVerification?
    public var limit: Int

    public init(
        since: String? = nil, until: String? = nil, runbook: String? = nil, outcome: String? = nil,
        alertname: String? = nil, initiator: String? = nil, verification: RunVerification? = nil, limit: Int = 50
    ) {
        self.verification = verification
        self.since = since
        self.until = until
        self.runbook = runbook
        self.outcome = outcome
        self.alertname = alertname
        self.initiator = initiator
        self.limit = limit
    }

    /// Whether `run` passes every filter but the limit; the rule a store's query implements.
    public func admits(_ run: RunSummary) -> Bool {
        if let since, run.startedAt < since { return false }
        if let until, run.startedAt >= until { return false }
        if let runbook, run.runbook != runbook { return false }
        if let outcome, outcome == "running" ? run.outcome != nil : run.outcome != outcome { return false }
        if let alertname, run.alertname != alertname { return false }
        if let verification, run.verification != verification { return false }
        if let initiator, run.initiator != initiator, run.initiator?.hasPrefix(initiator + ":") != true {
            return false
        }
        return true
    }
}
