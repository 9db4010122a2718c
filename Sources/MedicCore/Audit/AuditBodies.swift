import Foundation

/// The typed bodies of the audit records Medic reads back (replay, recovery, interrupted runs, metrics, the
/// timeline). Each decodes leniently: a field an older Medic did not write is nil, an unknown one is ignored.
/// Writing keeps the hand-built `[String: JSONValue]` bodies, whose canonical JSON the hash chain covers.
public protocol AuditBody: Decodable, Sendable {
    /// The kinds whose body this is.
    static var kinds: Set<AuditKind> { get }
}

extension AuditRecord {
    /// The record's kind, or nil for a kind this build does not know.
    public var auditKind: AuditKind? { AuditKind(rawValue: kind) }

    /// The body as `T` when the record is of one of `T`'s kinds and its body decodes; nil otherwise.
    public func body<T: AuditBody>(as type: T.Type) -> T? {
        guard let auditKind, T.kinds.contains(auditKind) else { return nil }
        return try? JSONDecoder().decode(T.self, from: Data(body.utf8))
    }
}

/// `run.started`.
public struct RunStartedBody: AuditBody, Equatable {
    public static let kinds: Set<AuditKind> = [.runStarted]

    public struct AlertSummary: Decodable, Sendable, Equatable {
        public var fingerprint: String?
        public var status: String?
        public var labels: [String: String]?
    }

    public var runbook: String
    public var initiator: String?
    /// Params as shown (secrets as `***`).
    public var params: [String: String]?
    public var alert: AlertSummary?
    /// Raw text as written; `onInterrupt` reads it.
    public var onInterruptText: String?
    public var runbookSHA256: String?

    /// What the run asked for if its Medic dies: read from the record's own top-level field, never from text
    /// anywhere in the body (an alert's labels are part of it and are attacker-controlled).
    public var onInterrupt: Policy.InterruptHandling {
        onInterruptText.flatMap(Policy.InterruptHandling.init(rawValue:)) ?? .record
    }

    enum CodingKeys: String, CodingKey {
        case runbook, initiator, params, alert
        case onInterruptText = "on_interrupt"
        case runbookSHA256 = "runbook_sha256"
    }
}

/// `run.finished`.
public struct RunFinishedBody: AuditBody, Equatable {
    public static let kinds: Set<AuditKind> = [.runFinished]
    public var outcomeText: String
    public var reason: String?
    public var durationMS: Int?
    /// `pending` when the run succeeded and waits for its proof (`verify`).
    public var verification: String?
    public var verify: VerifyPlanBody?

    /// The outcome, or nil for one this build does not know.
    public var outcome: RunOutcome? { RunOutcome(rawValue: outcomeText) }

    enum CodingKeys: String, CodingKey {
        case outcomeText = "outcome"
        case reason, verification, verify
        case durationMS = "duration_ms"
    }
}

/// `decision.*`: one per runbook that matched an alert. Decodes any of the five decision kinds.
public struct DecisionBody: AuditBody, Equatable {
    public static let kinds = Set(AuditKind.allCases.filter(\.isDecision))
    public var runbook: String
    public var trigger: Int?
    public var groupKey: String?
    public var lockKey: String?
    public var fingerprint: String?
    public var startsAt: String?
    public var alertname: String?
    /// `decision.queued`: the run holding the lock.
    public var behind: String?
    /// `decision.suppressed`: the stable reason (`dedup`, `cooldown`, `queue_full`, ...) and the message.
    public var reason: String?
    public var message: String?
    /// `decision.suppressed` for `dedup`: the run the same alert already led to.
    public var duplicateOf: String?

    enum CodingKeys: String, CodingKey {
        case runbook, trigger, fingerprint, alertname, behind, reason, message
        case duplicateOf = "duplicate_of"
        case groupKey = "group_key"
        case lockKey = "lock_key"
        case startsAt = "starts_at"
    }
}

/// `attempt.finished`.
public struct AttemptFinishedBody: AuditBody, Equatable {
    public static let kinds: Set<AuditKind> = [.attemptFinished]
    public var step: String
    public var phase: AttemptPhase?
    public var attempt: Int?
    public var exitCode: Int?
    public var signal: Int?
    public var timedOut: Bool?
    public var cancelled: Bool?
    public var durationMS: Int?
    public var stdout: String?
    public var stderr: String?
    public var error: String?
    /// A remote kill that could not be confirmed: what may still run, and where.
    public var killUnconfirmed: String?

    enum CodingKeys: String, CodingKey {
        case step, phase, attempt, signal, cancelled, stdout, stderr, error
        case killUnconfirmed = "kill_unconfirmed"
        case exitCode = "exit_code"
        case timedOut = "timed_out"
        case durationMS = "duration_ms"
    }
}

/// `step.finished`.
public struct StepFinishedBody: AuditBody, Equatable {
    public static let kinds: Set<AuditKind> = [.stepFinished]
    public var step: String
    public var status: String
}

/// `rollback.finished`.
public struct RollbackFinishedBody: AuditBody, Equatable {
    public static let kinds: Set<AuditKind> = [.rollbackFinished]
    public var step: String
    public var succeeded: Bool
}

/// `breaker.opened` and `breaker.reset`.
public struct BreakerBody: AuditBody, Equatable {
    public static let kinds: Set<AuditKind> = [.breakerOpened, .breakerReset]
    public var runbook: String
    /// One key, or nil for every key of the runbook.
    public var groupKey: String?

    enum CodingKeys: String, CodingKey {
        case runbook
        case groupKey = "group_key"
    }
}

/// `alert.resolved`.
public struct AlertResolvedBody: AuditBody, Equatable {
    public static let kinds: Set<AuditKind> = [.alertResolved]
    public var fingerprint: String
    public var cancelledWaiting: [String]?

    enum CodingKeys: String, CodingKey {
        case fingerprint
        case cancelledWaiting = "cancelled_waiting"
    }
}
