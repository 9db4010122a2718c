import Foundation

/// Explains what an alert would do against a set of runbooks: which would run (with which params), which are
/// suppressed and why, and near misses. Stateless: cooldowns, locks, caps and breakers need the audit log.
public struct AlertMatcher: Sendable {
    public var index: TriggerIndex
    /// `--shadow`: every match is shadowed.
    public var globalShadow: Bool

    public init(runbooks: [Runbook], globalShadow: Bool = false) {
        index = TriggerIndex(runbooks)
        self.globalShadow = globalShadow
    }

    /// What Medic would do with a matching trigger.
    public enum Decision: String, Sendable {
        case run, shadow, suppressed
    }

    public struct Match: Sendable {
        public var runbook: String
        public var trigger: Int
        public var decision: Decision
        public var reason: String
        /// Resolved params as shown to people (secrets as `***`); empty when they could not be resolved.
        public var params: [String: String]
    }

    public struct NearMiss: Sendable {
        public var runbook: String
        public var trigger: Int
        /// Each failed matcher, with what the alert had: `severity=~"critical" (alert has severity="warning")`.
        public var failed: [String]
    }

    public struct Explanation: Sendable {
        public var alert: Alert
        public var matches: [Match]
        public var nearMisses: [NearMiss]
    }

    /// Grafana sends these for its own plumbing; they never start a runbook unless a trigger names them.
    public static let grafanaHousekeeping: Set<String> = ["TestAlert", "DatasourceNoData", "DatasourceError"]

    public func explain(_ alert: Alert, environment: [String: String] = [:]) -> Explanation {
        var none: PolicyGate?
        return explain(alert, environment: environment, gate: &none, now: Date())
    }

    /// With a `gate` (rebuilt from the audit log), stateful policies apply too: dedup, cooldown, rate caps,
    /// locks, breakers. The gate remembers each decision, as the engine's would.
    public func explain(_ alert: Alert, environment: [String: String], gate: inout PolicyGate?, now: Date)
        -> Explanation
    {
        var matches: [Match] = []
        var nearMisses: [NearMiss] = []
        var seen: Set<String> = []
        for evaluation in index.evaluate(alert) {
            let entry = evaluation.entry
            guard evaluation.matches else {
                if Self.isNearMiss(evaluation, alert) {
                    var failed = evaluation.failed.map { matcher, value in
                        "\(matcher) (alert has \(value.map { "\(matcher.name)=\"\($0)\"" } ?? "no \(matcher.name) label"))"
                    }
                    if evaluation.statusMismatch {
                        failed.append("status=\(entry.trigger.status.rawValue) (alert is \(alert.status.rawValue))")
                    }
                    nearMisses.append(NearMiss(runbook: entry.runbook.id, trigger: entry.triggerIndex, failed: failed))
                }
                continue
            }
            // One decision per runbook, from its first matching trigger (any trigger may fire: OR).
            guard seen.insert(entry.runbook.id).inserted else { continue }
            let assessment = assessment(of: entry, alert: alert, environment: environment, runID: "match")
            var match = decide(assessment)
            if match.decision != .suppressed, gate != nil {
                let candidate = PolicyGate.Candidate(
                    runbook: entry.runbook, trigger: entry.trigger, alert: alert, lockKey: assessment.lockKey)
                switch gate!.decide(candidate, runID: "match-\(entry.runbook.id)-\(alert.fingerprint)", now: now) {
                case .suppressed(let suppression):
                    match.decision = .suppressed
                    match.reason = suppression.description
                case .queued(_, let behind):
                    match.reason += "; queued behind run \(behind) (policy.queue)"
                case .run, .shadow, .awaitingApproval:
                    break
                }
            }
            matches.append(match)
        }
        return Explanation(alert: alert, matches: matches, nearMisses: nearMisses)
    }

    /// A near miss is about this kind of alert: every `alertname` matcher holds (or, for triggers without
    /// one, some positive matcher holds on a label the alert has), yet something else fails.
    static func isNearMiss(_ evaluation: TriggerIndex.Evaluation, _ alert: Alert) -> Bool {
        let matchers = evaluation.entry.trigger.matchers
        let failedNames = Set(evaluation.failed.map { ExactText($0.matcher.name) })
        if matchers.contains(where: { $0.name.isExactly("alertname") }) {
            return !failedNames.contains(ExactText("alertname"))
        }
        return matchers.contains { matcher in
            (matcher.op == .equal || matcher.op == .regexMatch) && !failedNames.contains(ExactText(matcher.name))
                && !(alert.labels.value(forExactKey: matcher.name) ?? "").isEmpty
        }
    }

    private func decide(_ assessment: Assessment) -> Match {
        let entry = assessment.entry
        let runbook = entry.runbook
        func match(_ decision: Decision, _ reason: String, _ params: [String: String] = [:]) -> Match {
            Match(runbook: runbook.id, trigger: entry.triggerIndex, decision: decision, reason: reason, params: params)
        }
        guard let prepared = assessment.prepared else {
            return match(.suppressed, assessment.refusal?.description ?? "not runnable")
        }
        let params = prepared.displayedParams
        if globalShadow {
            return match(.shadow, "global shadow mode (--shadow): planned and audited, not executed", params)
        }
        switch runbook.policy.mode {
        case .shadow: return match(.shadow, "policy.mode shadow: planned and audited, not executed", params)
        case .approval:
            return match(.run, "all matchers hold; waits for an operator's approval (policy.mode approval)", params)
        case .autonomous:
            return match(.run, "all \(entry.trigger.matchers.count) matchers hold and params resolve", params)
        }
    }
}

extension AlertMatcher.Explanation {
    /// `{"fingerprint","status","labels","matches":[...],"near_misses":[...]}`.
    public var json: JSONValue {
        [
            "fingerprint": .string(alert.fingerprint), "status": .string(alert.status.rawValue),
            "source": .string(alert.source.rawValue),
            "labels": .object(alert.labels.mapValues(JSONValue.string)),
            "matches": .array(
                matches.map { match in
                    [
                        "runbook": .string(match.runbook), "trigger": JSONValue(match.trigger),
                        "decision": .string(match.decision.rawValue), "reason": .string(match.reason),
                        "params": .object(match.params.mapValues(JSONValue.string)),
                    ]
                }),
            "near_misses": .array(
                nearMisses.map { miss in
                    [
                        "runbook": .string(miss.runbook), "trigger": JSONValue(miss.trigger),
                        "failed": .array(miss.failed.map(JSONValue.string)),
                    ]
                }),
        ]
    }

    /// For the on-call engineer: one block per alert, decisions first, near misses after.
    public var text: String {
        let labels = alert.labels.keys.sorted().map { "\($0)=\"\(alert.labels[$0]!)\"" }.joined(separator: ", ")
        var lines = [
            "alert \(alert.name.isEmpty ? "(no alertname)" : alert.name) [\(alert.status.rawValue), \(alert.source.rawValue), fingerprint \(alert.fingerprint)]"
        ]
        lines.append("  labels: {\(labels)}")
        if matches.isEmpty {
            lines.append("  no runbook matches")
        }
        for match in matches {
            let verb: String
            switch match.decision {
            case .run: verb = "RUN       "
            case .shadow: verb = "SHADOW    "
            case .suppressed: verb = "SUPPRESSED"
            }
            lines.append("  \(verb) \(match.runbook) (trigger \(match.trigger + 1)): \(match.reason)")
            if !match.params.isEmpty {
                lines.append(
                    "             params: "
                        + match.params.keys.sorted().map { "\($0)=\(ShellQuoting.quote(match.params[$0]!))" }.joined(
                            separator: " "))
            }
        }
        for miss in nearMisses {
            lines.append("  near miss  \(miss.runbook) (trigger \(miss.trigger + 1)) failed:")
            for failure in miss.failed { lines.append("             \(failure)") }
        }
        return lines.joined(separator: "\n")
    }
}

extension AlertMatcher {
    /// A runbook whose trigger fully matched an alert, checked up to the point where history matters.
    public struct Assessment: Sendable {
        public var entry: TriggerIndex.Entry
        /// Ready to run when the stateless checks passed (params resolve, not Grafana housekeeping).
        public var prepared: PreparedRun?
        /// Why it cannot run, whatever the history says.
        public var refusal: PolicyGate.Suppression?
        /// `policy.concurrency` rendered with the run's params.
        public var lockKey: String?
    }

    /// One assessment per runbook (its first matching trigger), for the engine to put through the gate.
    public func assess(_ alert: Alert, environment: [String: String], runID: (Runbook) -> String) -> [Assessment] {
        var seen: Set<String> = []
        return index.evaluate(alert).compactMap { evaluation in
            guard evaluation.matches, seen.insert(evaluation.entry.runbook.id).inserted else { return nil }
            return assessment(
                of: evaluation.entry, alert: alert, environment: environment, runID: runID(evaluation.entry.runbook))
        }
    }

    /// The stateless checks of one matching trigger: Grafana housekeeping, then params (which also render the
    /// lock key).
    func assessment(of entry: TriggerIndex.Entry, alert: Alert, environment: [String: String], runID: String)
        -> Assessment
    {
        if alert.source == .grafana, Self.grafanaHousekeeping.contains(alert.name),
            !entry.trigger.matchers.contains(where: {
                $0.name.isExactly("alertname") && $0.op == .equal && $0.value.isExactly(alert.name)
            })
        {
            return Assessment(
                entry: entry, prepared: nil,
                refusal: .notRunnable(
                    reason: "grafana_housekeeping",
                    message: "Grafana \(alert.name) notification: only a trigger that names it can start a runbook"),
                lockKey: nil)
        }
        switch PreparedRun.prepare(entry.runbook, runID: runID, given: [:], alert: alert, environment: environment) {
        case .success(let prepared):
            let lockKey = entry.runbook.policy.concurrency.map { $0.render(in: prepared.context) }
            return Assessment(entry: entry, prepared: prepared, refusal: nil, lockKey: lockKey)
        case .failure(let problems):
            return Assessment(
                entry: entry, prepared: nil,
                refusal: .notRunnable(
                    reason: "params", message: "params: " + problems.messages.joined(separator: "; ")),
                lockKey: nil)
        }
    }
}
