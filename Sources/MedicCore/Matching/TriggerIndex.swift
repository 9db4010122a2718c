import Foundation

/// Finds the triggers an alert could fire without scanning every matcher of every runbook: triggers are
/// indexed by the `alertname` their equality matcher names; only triggers without one are scanned always.
/// Names and values are compared by bytes (`ExactText`), as Alertmanager compares them.
public struct TriggerIndex: Sendable {
    /// One trigger of one runbook, with its regexes compiled once. A reference: evaluating an alert hands
    /// entries around without copying the runbook each time.
    public final class Entry: Sendable {
        public let runbook: Runbook
        /// Position of the trigger in the runbook's `triggers`.
        public let triggerIndex: Int
        public let trigger: Trigger
        /// Per matcher, its compiled regex (nil for `=`/`!=`, and for a regex that does not compile, which then
        /// never holds: validation refuses such runbooks).
        let regexes: [GoRegex?]

        init(runbook: Runbook, triggerIndex: Int, trigger: Trigger) {
            self.runbook = runbook
            self.triggerIndex = triggerIndex
            self.trigger = trigger
            regexes = trigger.matchers.map { $0.op.isRegex ? try? $0.compiledRegex() : nil }
        }
    }

    private var byAlertname: [ExactText: [Int]] = [:]
    private var unindexed: [Int] = []
    public private(set) var entries: [Entry] = []

    public init(_ runbooks: [Runbook]) {
        for runbook in runbooks {
            for (position, trigger) in runbook.triggers.enumerated() {
                let entryIndex = entries.count
                entries.append(Entry(runbook: runbook, triggerIndex: position, trigger: trigger))
                let alertname = trigger.matchers.filter { $0.name.isExactly("alertname") }
                if let name = alertname.first(where: { $0.op == .equal })?.value {
                    byAlertname[ExactText(name), default: []].append(entryIndex)
                } else if let names = alertname.lazy.filter({ $0.op == .regexMatch })
                    .compactMap({ try? $0.compiledRegex().literalAlternatives }).first
                {
                    // `alertname=~"A|B"` is indexed under both names.
                    // `Disk|Disk` names it once: a trigger is a candidate once.
                    for name in Set(names.map(ExactText.init)) { byAlertname[name, default: []].append(entryIndex) }
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
                let seen = alert.labels.value(forExactKey: matcher.name)
                let actual = seen ?? ""
                let holds: Bool
                switch matcher.op {
                case .equal: holds = actual.isExactly(matcher.value)
                case .notEqual: holds = !actual.isExactly(matcher.value)
                // A regex that does not compile holds for neither `=~` nor `!~`.
                case .regexMatch: holds = entry.regexes[index]?.matches(actual) ?? false
                case .regexNoMatch: holds = entry.regexes[index].map { !$0.matches(actual) } ?? false
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
