import Foundation

/// Finds the triggers an alert could fire without scanning every matcher of every runbook: triggers are
/// indexed by the `alertname` their equality matcher names; only triggers without one are scanned always.
/// Names and values are compared by bytes (`ExactText`), as Alertmanager compares them.
public struct TriggerIndex: Sendable {
    /// One trigger of one runbook, with its regexes compiled once.
    public struct Entry: Sendable {
        public var runbook: Runbook
        /// Position of the trigger in the runbook's `triggers`.
        public var triggerIndex: Int
        public var trigger: Trigger
        /// Regex matchers by position, compiled once. A matcher whose regex does not compile is not here and
        /// never holds (validation refuses such runbooks).
        let regexes: [Int: GoRegex]
    }

    private var byAlertname: [ExactText: [Int]] = [:]
    private var unindexed: [Int] = []
    public private(set) var entries: [Entry] = []

    public init(_ runbooks: [Runbook]) {
        for runbook in runbooks {
            for (position, trigger) in runbook.triggers.enumerated() {
                var regexes: [Int: GoRegex] = [:]
                for (index, matcher) in trigger.matchers.enumerated() where matcher.op.isRegex {
                    regexes[index] = try? matcher.compiledRegex()
                }
                let entryIndex = entries.count
                entries.append(Entry(runbook: runbook, triggerIndex: position, trigger: trigger, regexes: regexes))
                let alertname = trigger.matchers.filter { $0.name.isExactly("alertname") }
                if let name = alertname.first(where: { $0.op == .equal })?.value {
                    byAlertname[ExactText(name), default: []].append(entryIndex)
                } else if let names = alertname.lazy.filter({ $0.op == .regexMatch })
                    .compactMap({ try? $0.compiledRegex().literalAlternatives }).first
                {
                    // `alertname=~"A|B"` is indexed under both names.
                    for name in names { byAlertname[ExactText(name), default: []].append(entryIndex) }
                } else {
                    unindexed.append(entryIndex)
                }
            }
        }
    }

    /// Entries whose triggers might match `labels` (an alertname equality already holds for indexed ones).
    public func candidates(for labels: [String: String]) -> [Entry] {
        let indexed = byAlertname[ExactText(labels.value(forExactKey: "alertname") ?? "")] ?? []
        if unindexed.isEmpty { return indexed.map { entries[$0] } }
        return (indexed + unindexed).sorted().map { entries[$0] }
    }

    /// The result of checking one trigger against one alert, matcher by matcher.
    public struct Evaluation: Sendable {
        public var entry: Entry
        /// Matchers that failed, each with the label value it saw (`nil`: label missing, read as "").
        public var failed: [(matcher: LabelMatcher, seen: String?)]
        public var matchedCount: Int
        /// Set when the alert's status is not the one the trigger answers.
        public var statusMismatch: Bool

        public var matches: Bool { failed.isEmpty && !statusMismatch }
    }

    /// Every candidate trigger evaluated against `alert`: full matches and partial ones (near misses).
    public func evaluate(_ alert: Alert) -> [Evaluation] {
        candidates(for: alert.labels).map { entry in
            var failed: [(LabelMatcher, String?)] = []
            var matched = 0
            for (index, matcher) in entry.trigger.matchers.enumerated() {
                let holds: Bool
                if matcher.op.isRegex {
                    // A regex that does not compile holds for neither `=~` nor `!~`.
                    let seen = alert.labels.value(forExactKey: matcher.name) ?? ""
                    holds = entry.regexes[index].map { $0.wholeMatch(seen) == (matcher.op == .regexMatch) } ?? false
                } else {
                    holds = matcher.matches(alert.labels)
                }
                if holds {
                    matched += 1
                } else {
                    failed.append((matcher, alert.labels.value(forExactKey: matcher.name)))
                }
            }
            let status = entry.trigger.status
            let statusMismatch = status != .any && status.rawValue != alert.status.rawValue
            return Evaluation(entry: entry, failed: failed, matchedCount: matched, statusMismatch: statusMismatch)
        }
    }
}
