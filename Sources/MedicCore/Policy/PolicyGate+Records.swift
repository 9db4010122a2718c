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
        let kind: AuditKind
        var runID = ""
        switch decision {
        case .run(let id): (kind, runID) = (.decisionRun, id)
        case .shadow(let id): (kind, runID) = (.decisionShadowed, id)
        case .awaitingApproval(let id): (kind, runID) = (.decisionAwaitingApproval, id)
        case .queued(let id, let behind):
            (kind, runID) = (.decisionQueued, id)
            body["behind"] = .string(behind)
        case .suppressed(let suppression):
            kind = .decisionSuppressed
            body["reason"] = .string(suppression.reason)
            body["message"] = .string(suppression.description)
            if case .duplicate(let original?) = suppression { body["duplicate_of"] = .string(original) }
        }
        return AuditEvent(time: now, kind: kind, runID: runID, body: body)
    }

    /// The record of a breaker opening (when the engine runs `policy.escalate`) or being reset.
    public static func breakerRecord(opened: Bool, runbook: String, key: String?, now: Date) -> AuditEvent {
        var body: [String: JSONValue] = ["runbook": .string(runbook)]
        if let key { body["group_key"] = .string(key) }
        return AuditEvent(time: now, kind: opened ? .breakerOpened : .breakerReset, runID: "", body: body)
    }

    /// Rebuilds the gate's memory from audit records, oldest first, so a restart keeps cooldowns, rate
    /// windows, dedup, locks and breakers. `runbooks` supplies each runbook's current policy and so the horizon
    /// beyond which nothing is remembered; with `now`, what lies beyond it is forgotten at the end. Records are
    /// read through their typed bodies: only the kinds in `AuditKind.policyHistory` matter.
    ///
    /// Replays may come in several calls (another replica's records as they arrive): a run decided in one call
    /// and finished in a later one is matched. Returns the runs that a released lock passed to, in order.
    @discardableResult
    public mutating func replay(_ records: some Sequence<AuditRecord>, runbooks: [Runbook], now: Date? = nil)
        -> [String]
    {
        observeWindows(of: runbooks)
        let byID = Dictionary(runbooks.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var dequeued: [String] = []
        for record in records {
            guard let kind = record.auditKind else { continue }
            let time = RFC3339.parse(record.time) ?? Date.distantPast
            switch kind {
            case .decisionRun, .decisionShadowed, .decisionAwaitingApproval, .decisionQueued:
                guard let body = record.body(as: DecisionBody.self), let runID = record.runID else { continue }
                let groupKey = body.groupKey ?? ""
                let shadow = kind == .decisionShadowed
                remember(
                    runID: runID, runbook: body.runbook, groupKey: groupKey, lockKey: shadow ? nil : body.lockKey,
                    fingerprint: body.fingerprint ?? "", startsAt: body.startsAt, time: time,
                    waiting: kind == .decisionAwaitingApproval || kind == .decisionQueued, shadow: shadow)
                // A shadowed run holds nothing and its end changes nothing: only runs that hold a place are kept.
                if !shadow { replayedRuns[runID] = ReplayedRun(runbook: body.runbook, groupKey: groupKey) }
            case .runStarted:
                if let runID = record.runID, replayedRuns[runID] != nil { runBegan(runID) }
            case .runFinished:
                guard let runID = record.runID, let run = replayedRuns.removeValue(forKey: runID),
                    let outcome = record.body(as: RunFinishedBody.self)?.outcome
                else { continue }
                if let next = finishReplayed(
                    runID, runbook: byID[run.runbook], groupKey: run.groupKey, outcome: outcome, time: time
                ).dequeued {
                    dequeued.append(next)
                }
            case .runUnverified:
                if let body = record.body(as: VerificationBody.self), let runbook = body.runbook {
                    _ = countFailure(runbook: byID[runbook], groupKey: body.groupKey ?? "", time: time)
                }
            case .decisionSuppressed:
                // A duplicate keeps the alert's dedup entry alive across a restart (Alertmanager re-sends a
                // firing alert for as long as it fires), even when the run it led to is older than the cutoff.
                // Records written before `duplicate_of` existed still refresh the entry; only the run they name
                // in a later duplicate message is unknown then.
                guard let body = record.body(as: DecisionBody.self), body.reason == "dedup" else { continue }
                refreshDuplicate(
                    runID: body.duplicateOf, runbook: body.runbook,
                    fingerprint: body.fingerprint ?? "", startsAt: body.startsAt, time: time)
            case .breakerOpened:
                // The failures that opened a breaker may lie before the replay's cutoff; its record does not
                // (the cutoff reaches back at least one breaker window).
                if let body = record.body(as: BreakerBody.self), let key = body.groupKey {
                    reopenBreaker(runbook: body.runbook, groupKey: key, at: time)
                }
            case .breakerReset:
                if let body = record.body(as: BreakerBody.self) { _ = resetBreaker(runbook: body.runbook, key: body.groupKey) }
            case .alertResolved:
                if let body = record.body(as: AlertResolvedBody.self) {
                    _ = resolved(Alert(source: .json, status: .resolved, labels: [:], fingerprint: body.fingerprint))
                }
            default:
                continue
            }
        }
        if let now { forget(now: now) }
        return dequeued
    }

    /// How far back a replay must read at `now`: the policy horizon of `runbooks` or the dedup windows,
    /// whichever reaches further.
    public func replayCutoff(now: Date, runbooks: [Runbook]) -> Date {
        var probe = PolicyGate(configuration: configuration)
        probe.observeWindows(of: runbooks)
        let reach = max(probe.policyHorizon, configuration.dedupWindow, configuration.unstampedDedupWindow)
        return now.addingTimeInterval(-Self.seconds(reach))
    }
}
