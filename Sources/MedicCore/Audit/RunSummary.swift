/// One run as the history lists it: a line of `medic audit list`, an element of `GET /v1/runs`.
public struct RunSummary: Sendable, Equatable {
    public var id: String
    public var runbook: String
    public var startedAt: String
    public var finishedAt: String?
    public var durationMilliseconds: Int?
    /// nil while the run has no end record.
    public var outcome: String?
    public var initiator: String?
    public var alertname: String?
    public var fingerprint: String?
    /// `none`, `pending`, `verified` or `unverified` (`verify`).
    public var verification: RunVerification
    /// For a verified run that an alert started: from the alert's `startsAt` to the proof.
    public var timeToResolveMilliseconds: Int?

    public init(
        id: String, runbook: String, startedAt: String, finishedAt: String? = nil, durationMilliseconds: Int? = nil,
        outcome: String? = nil, initiator: String? = nil, alertname: String? = nil, fingerprint: String? = nil,
        verification: RunVerification = .none, timeToResolveMilliseconds: Int? = nil
    ) {
        self.verification = verification
        self.timeToResolveMilliseconds = timeToResolveMilliseconds
        self.id = id
        self.runbook = runbook
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.durationMilliseconds = durationMilliseconds
        self.outcome = outcome
        self.initiator = initiator
        self.alertname = alertname
        self.fingerprint = fingerprint
    }

    public var json: JSONValue {
        [
            "id": .string(id), "runbook": .string(runbook), "started_at": .string(startedAt),
            "finished_at": JSONValue(finishedAt),
            "duration_ms": durationMilliseconds.map { JSONValue($0) } ?? .null,
            "outcome": JSONValue(outcome), "initiator": JSONValue(initiator), "alertname": JSONValue(alertname),
            "fingerprint": JSONValue(fingerprint), "verification": .string(verification.rawValue),
            "time_to_resolve_ms": timeToResolveMilliseconds.map { JSONValue($0) } ?? .null,
        ]
    }
}
