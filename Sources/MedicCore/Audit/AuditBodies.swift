import Foundation

/// The typed bodies of the audit records Medic reads back (replay, recovery, interrupted runs, metrics, the
/// timeline). Each decodes leniently: a field an older Medic did not write is nil, an unknown one is ignored.
/// Writing keeps the hand-built `[String: JSONValue]` bodies, whose canonical JSON the hash chain covers.
public protocol AuditBody: Decodable, Sendable {
    /// The kind whose body this is.
    static var kind: AuditKind { get }
}

extension AuditRecord {
    /// The record's kind, or nil for a kind this build does not know.
    public var auditKind: AuditKind? { AuditKind(rawValue: kind) }

    /// The body as `T` when the record is of `T`'s kind and its body decodes; nil otherwise.
    public func body<T: AuditBody>(as type: T.Type) -> T? {
        guard kind == T.kind.rawValue else { return nil }
        return try? JSONDecoder().decode(T.self, from: Data(body.utf8))
    }
}

extension AuditEvent {
    /// The body as `T` when the event is of `T`'s kind (for observers of events not yet stored).
    public func body<T: AuditBody>(as type: T.Type) -> T? {
        guard kind == T.kind else { return nil }
        return try? JSONDecoder().decode(T.self, from: Data(JSONValue.object(body).compact.utf8))
    }
}

/// `run.started`.
public struct RunStartedBody: AuditBody, Equatable {
    public static let kind = AuditKind.runStarted

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
    public static let kind = AuditKind.runFinished
    public var outcomeText: String
    public var reason: String?
    public var durationMS: Int?

    /// The outcome, or nil for one this build does not know.
    public var outcome: RunOutcome? { RunOutcome(rawValue: outcomeText) }

    enum CodingKeys: String, CodingKey {
        case outcomeText = "outcome"
        case reason
        case durationMS = "duration_ms"
    }
}

/// `decision.*`: one per runbook that matched an alert. Decodes any of the five decision kinds.
public struct DecisionBody: Decodable, Sendable, Equatable {
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

extension AuditRecord {
    /// The body of a `decision.*` record.
    public var decisionBody: DecisionBody? {
        guard auditKind?.isDecision == true else { return nil }
        return try? JSONDecoder().decode(DecisionBody.self, from: Data(body.utf8))
    }
}

extension AuditEvent {
    /// The body of a `decision.*` event.
    public var decisionBody: DecisionBody? {
        guard kind.isDecision else { return nil }
        return try? JSONDecoder().decode(DecisionBody.self, from: Data(JSONValue.object(body).compact.utf8))
    }
}

/// `attempt.finished`.
public struct AttemptFinishedBody: AuditBody, Equatable {
    public static let kind = AuditKind.attemptFinished
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

    enum CodingKeys: String, CodingKey {
        case step, phase, attempt, signal, cancelled, stdout, stderr, error
        case exitCode = "exit_code"
        case timedOut = "timed_out"
        case durationMS = "duration_ms"
    }
}

/// `step.finished`.
public struct StepFinishedBody: AuditBody, Equatable {
    public static let kind = AuditKind.stepFinished
    public var step: String
    public var status: String
}

/// `rollback.finished`.
public struct RollbackFinishedBody: AuditBody, Equatable {
    public static let kind = AuditKind.rollbackFinished
    public var step: String
    public var succeeded: Bool
}

/// `breaker.opened` and `breaker.reset`.
public struct BreakerBody: Decodable, Sendable, Equatable {
    public var runbook: String
    /// One key, or nil for every key of the runbook.
    public var groupKey: String?

    enum CodingKeys: String, CodingKey {
        case runbook
        case groupKey = "group_key"
    }
}

extension AuditRecord {
    /// The body of a `breaker.opened` or `breaker.reset` record.
    public var breakerBody: BreakerBody? {
        guard auditKind == .breakerOpened || auditKind == .breakerReset else { return nil }
        return try? JSONDecoder().decode(BreakerBody.self, from: Data(body.utf8))
    }
}

/// `alert.resolved`.
public struct AlertResolvedBody: AuditBody, Equatable {
    public static let kind = AuditKind.alertResolved
    public var fingerprint: String
    public var cancelledWaiting: [String]?

    enum CodingKeys: String, CodingKey {
        case fingerprint
        case cancelledWaiting = "cancelled_waiting"
    }
}
