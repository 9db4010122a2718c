import Foundation

/// A run whose end needs people: the engine records `run.escalated` and runs the runbook's `policy.escalate`
/// (once per run, however many reasons it has).
public struct Escalation: Sendable, Equatable {
    /// Why, most urgent first; the first is `MEDIC_ESCALATION_REASON`.
    public enum Reason: String, Sendable, Equatable, CaseIterable, Codable, Comparable {
        /// A remote kill could not be confirmed: something of the run may still run on its target.
        case killUnconfirmed = "kill_unconfirmed"
        /// A rollback failed: the target is in a state nobody planned.
        case rollbackFailed = "rollback_failed"
        /// A run that succeeded did not prove it fixed the fault (`verify`).
        case unverified
        /// A silence that holds paging while the run works could not be created or expired.
        case silenceFailed = "silence_failed"
        /// The run's failure opened its breaker: Medic stops acting on the key.
        case breakerOpened = "breaker_opened"
        /// The replica running the run stopped renewing its lease (it died, or lost the database): another replica
        /// closed the run `interrupted` without running any step again.
        case replicaLost = "replica_lost"

        public static func < (lhs: Reason, rhs: Reason) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }
    }

    /// The runbook of the run that ended (its `policy.escalate` runs), the alert that started it, its key.
    public var runbook: Runbook
    public var alert: Alert?
    public var groupKey: String
    /// The run that ended.
    public var runID: String
    /// At least one, most urgent first.
    public var reasons: [Reason]
    /// What happened, for people: one line per fact.
    public var details: [String]

    public init(
        runbook: Runbook, alert: Alert?, groupKey: String, runID: String, reasons: [Reason], details: [String]
    ) {
        self.runbook = runbook
        self.alert = alert
        self.groupKey = groupKey
        self.runID = runID
        self.reasons = reasons.sorted()
        self.details = details
    }

    /// Why and what, in the order people read them, given how the run ended.
    static func of(
        _ runID: String, candidate: PolicyGate.Candidate, outcome: RunOutcome, breakerOpened: Bool,
        killsUnconfirmed: [String], unverified: String? = nil
    ) -> Escalation? {
        var reasons: [Reason] = []
        var details: [String] = []
        if let unverified {
            reasons.append(.unverified)
            details.append("run \(runID) of \(candidate.runbook.id) succeeded but is unverified: \(unverified)")
        }
        if !killsUnconfirmed.isEmpty {
            reasons.append(.killUnconfirmed)
            details += killsUnconfirmed.map { "kill unconfirmed: \($0)" }
        }
        if outcome == .rollbackFailed {
            reasons.append(.rollbackFailed)
            details.append("run \(runID) of \(candidate.runbook.id) ended rollback_failed")
        }
        if breakerOpened {
            reasons.append(.breakerOpened)
            details.append(
                "the circuit breaker of \(candidate.runbook.id) opened for key \(candidate.groupKey) after run \(runID) ended \(outcome.rawValue)"
            )
        }
        guard !reasons.isEmpty else { return nil }
        return Escalation(
            runbook: candidate.runbook, alert: candidate.alert, groupKey: candidate.groupKey, runID: runID,
            reasons: reasons, details: details)
    }

    /// `run.escalated`, under the run that ended.
    public func record(now: Date) -> AuditEvent {
        AuditEvent(
            time: now, kind: .runEscalated, runID: runID,
            body: [
                "runbook": .string(runbook.id), "group_key": .string(groupKey),
                "reason": .string(reasons[0].rawValue), "reasons": .array(reasons.map { .string($0.rawValue) }),
                "details": .array(details.map(JSONValue.string)),
                "hook": .bool(runbook.policy.escalate != nil),
            ])
    }

    /// What `policy.escalate` finds in its environment, over the usual `MEDIC_*` of its step: `MEDIC_RUN_ID` and
    /// `MEDIC_RUNBOOK` name the run escalated, and `MEDIC_ESCALATION_RUN_ID` the escalation's own run.
    public func environment(escalationRunID: String) -> [String: String] {
        [
            "MEDIC_ESCALATION_REASON": reasons[0].rawValue,
            "MEDIC_ESCALATION_REASONS": reasons.map(\.rawValue).joined(separator: ","),
            "MEDIC_ESCALATION_DETAIL": details.joined(separator: "\n"),
            "MEDIC_ESCALATION_RUN_ID": escalationRunID,
            "MEDIC_RUN_ID": runID,
            "MEDIC_RUNBOOK": runbook.id,
            "MEDIC_GROUP_KEY": groupKey,
        ]
    }
}
