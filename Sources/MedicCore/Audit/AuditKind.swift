/// Every kind of audit record Medic writes: the only place a kind is spelled.
///
/// A stored record keeps its kind as text (`AuditRecord.kind`), so a log written by a newer Medic still
/// reads; `AuditRecord.auditKind` is nil for a kind this build does not know. docs/audit.md describes each.
public enum AuditKind: String, Sendable, CaseIterable, Codable {
    case alertReceived = "alert.received"
    case alertResolved = "alert.resolved"

    case decisionRun = "decision.run"
    case decisionShadowed = "decision.shadowed"
    case decisionQueued = "decision.queued"
    case decisionAwaitingApproval = "decision.awaiting_approval"
    case decisionSuppressed = "decision.suppressed"

    case runStarted = "run.started"
    case runShadowed = "run.shadowed"
    case runApproved = "run.approved"
    case runCancelRequested = "run.cancel_requested"
    case runStopping = "run.stopping"
    case runRecovering = "run.recovering"
    case runFinished = "run.finished"
    /// A run that succeeded was proven to have fixed the fault (`verify`): the alert resolved, the probe passed.
    case runVerified = "run.verified"
    /// A run that succeeded was not proven in time (`verify.within`).
    case runUnverified = "run.unverified"
    /// One attempt of a `verify.probe` starts (written before the command runs), and how it ended.
    case verifyProbeStarted = "verify.probe_started"
    case verifyProbeFinished = "verify.probe_finished"
    /// `policy.silence`: the alert was silenced in Alertmanager while the run works, the silence was
    /// expired, or either could not be done.
    case silenceCreated = "silence.created"
    case silenceExpired = "silence.expired"
    case silenceFailed = "silence.failed"
    /// A run that ended needing people (remote kill unconfirmed, rollback failed, breaker opened).
    case runEscalated = "run.escalated"

    case attemptStarted = "attempt.started"
    case attemptFinished = "attempt.finished"
    case retryScheduled = "retry.scheduled"
    case stepSkipped = "step.skipped"
    case stepFinished = "step.finished"
    case rollbackStarted = "rollback.started"
    case rollbackFinished = "rollback.finished"

    case breakerOpened = "breaker.opened"
    case breakerReset = "breaker.reset"
    /// `policy.escalate` could not be run, or ran and did not succeed.
    case escalationFailed = "escalation.failed"

    case auditCheckpoint = "audit.checkpoint"
    /// A replica lost its lease on the shared store (it could not renew in time), stopped its running steps
    /// without rolling back, and recorded this once it could write again.
    case replicaFenced = "replica.fenced"

    /// The decision records (`decision.*`), one per runbook that matched an alert.
    public var isDecision: Bool { decision != nil }

    /// For a `decision.*` kind, what was decided (`run`, `shadowed`, `queued`, `awaiting_approval`,
    /// `suppressed`): the word `medic match`, HTTP answers and metrics use.
    public var decision: String? {
        switch self {
        case .decisionRun: "run"
        case .decisionShadowed: "shadowed"
        case .decisionQueued: "queued"
        case .decisionAwaitingApproval: "awaiting_approval"
        case .decisionSuppressed: "suppressed"
        default: nil
        }
    }

    /// The kinds a policy gate is rebuilt from on start.
    public static let policyHistory: [AuditKind] = [
        .decisionRun, .decisionShadowed, .decisionQueued, .decisionAwaitingApproval, .decisionSuppressed, .runStarted,
        .runFinished, .runVerified, .runUnverified,
        .breakerOpened, .breakerReset, .alertResolved,
    ]
}
