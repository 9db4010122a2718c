import Foundation

extension PolicyGate {
    /// The audit record of a decision: `decision.run`, `decision.shadowed`, `decision.queued`,
    /// `decision.awaiting_approval` or `decision.suppressed` (whose `reason` `medic audit stats` counts).
    public static func record(_ decision: Decision, for candidate: Candidate, now: Date) -> AuditEvent {
        var body: [String: JSONValue] = [
            "runbook": .string(candidate.runbook.id),
            "trigger": JSONValue(candidate.runbook.triggers.firstIndex(of: candidate.trigger) ?? 0),
            "group_key": .string(candidate.groupKey), "lock_key": JSONValue(candidate.lockKey),
            "fingerprint": .string(candidate.alert.fingerprint),
            "starts_at": JSONValue(candidate.alert.startsAt.map(RFC3339.format)),
            "alertname": .string(candidate.alert.name),
        ]
        let kind: String
        var runID = ""
        switch decision {
        case .run(let id): (kind, runID) = ("decision.run", id)
        case .shadow(let id): (kind, runID) = ("decision.shadowed", id)
        case .awaitingApproval(let id): (kind, runID) = ("decision.awaiting_approval", id)
        case .queued(let id, let behind):
            (kind, runID) = ("decision.queued", id)
            body["behind"] = .string(behind)
        case .suppressed(let suppression):
            kind = "decision.suppressed"
            body["reason"] = .string(suppression.reason)
            body["message"] = .string(suppression.description)
        }
        return AuditEvent(time: now, kind: kind, runID: runID, body: body)
    }

    /// The record of a breaker opening (when the engine runs `policy.escalate`) or being reset.
    public static func breakerRecord(opened: Bool, runbook: String, key: String?, now: Date) -> AuditEvent {
        var body: [String: JSONValue] = ["runbook": .string(runbook)]
        if let key { body["group_key"] = .string(key) }
        return AuditEvent(time: now, kind: opened ? "breaker.opened" : "breaker.reset", runID: "", body: body)
    }

    /// Rebuilds the gate's memory from audit records, oldest first, so a restart keeps cooldowns, rate
    /// windows, dedup, locks and breakers. `runbooks` supplies each runbook's current policy.
    public mutating func replay(_ records: some Sequence<AuditRecord>, runbooks: [Runbook]) {
        let byID = Dictionary(runbooks.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var started: [String: (runbook: String, groupKey: String, lockKey: String?, fingerprint: String)] = [:]
        for record in records {
            let body = record.bodyValue
            let time = RFC3339.parse(record.time) ?? Date.distantPast
            switch record.kind {
            case "decision.run", "decision.shadowed", "decision.awaiting_approval", "decision.queued":
                guard let runbookID = body["runbook"] as? String, let runID = record.runID else { continue }
                let groupKey = body["group_key"] as? String ?? ""
                let lockKey = body["lock_key"] as? String
                let fingerprint = body["fingerprint"] as? String ?? ""
                let waiting = record.kind == "decision.awaiting_approval" || record.kind == "decision.queued"
                let shadow = record.kind == "decision.shadowed"
                remember(
                    runID: runID, runbook: runbookID, groupKey: groupKey, lockKey: shadow ? nil : lockKey,
                    fingerprint: fingerprint, startsAt: body["starts_at"] as? String, time: time, waiting: waiting,
                    shadow: shadow)
                started[runID] = (runbookID, groupKey, lockKey, fingerprint)
            case "run.started":
                if let runID = record.runID, started[runID] != nil { runBegan(runID) }
            case "run.finished":
                guard let runID = record.runID, let run = started[runID],
                    let outcome = RunOutcome(rawValue: body["outcome"] as? String ?? "")
                else { continue }
                finishReplayed(runID, runbook: byID[run.runbook], groupKey: run.groupKey, outcome: outcome, time: time)
            case "breaker.reset":
                if let runbook = body["runbook"] as? String {
                    _ = resetBreaker(runbook: runbook, key: body["group_key"] as? String)
                }
            default:
                continue
            }
        }
    }
}
