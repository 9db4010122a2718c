import Foundation
import MedicCore

/// The matcher path Medic had before its own regex engine, kept only as the benchmark's baseline
/// (`medic bench match` prints the ratio to it): the trigger index of the release before, copied as it
/// was: an alertname index keyed by Swift strings, plain-word alternations as a `Set<String>`, everything
/// else through ICU's `NSRegularExpression` with `^(?:re)$`. It backtracks, compares strings by canonical
/// equivalence, and is not used anywhere else.
public struct ICUMatcherBaseline: @unchecked Sendable {
    struct Compiled {
        let regex: NSRegularExpression?
        let literals: Set<String>?

        init(_ value: String) {
            let plain = value.unicodeScalars.allSatisfy { scalar in
                ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
                    || scalar == "_" || scalar == "-" || scalar == "|"
            }
            if plain {
                literals = Set(value.split(separator: "|", omittingEmptySubsequences: false).map(String.init))
                regex = nil
            } else {
                literals = nil
                regex = try? NSRegularExpression(pattern: "^(?:\(value))$")
            }
        }

        func matches(_ value: String) -> Bool {
            if let literals { return literals.contains(value) }
            guard let regex else { return false }
            return regex.firstMatch(in: value, range: NSRange(value.startIndex..., in: value)) != nil
        }
    }

    /// As the trigger index of earlier releases: entries are values (the runbook is copied along), each
    /// candidate is evaluated matcher by matcher, and the failures are collected for explanations.
    struct Entry {
        var runbook: Runbook
        var triggerIndex: Int
        var trigger: Trigger
        let regexes: [Int: Compiled]
    }

    struct Evaluation {
        var entry: Entry
        var failed: [(matcher: LabelMatcher, seen: String?)]
        var matchedCount: Int
        var statusMismatch: Bool
        var matches: Bool { failed.isEmpty && !statusMismatch }
    }

    private var entries: [Entry] = []
    private var byAlertname: [String: [Int]] = [:]
    private var unindexed: [Int] = []

    public init(_ runbooks: [Runbook]) {
        for runbook in runbooks {
            for (position, trigger) in runbook.triggers.enumerated() {
                var regexes: [Int: Compiled] = [:]
                for (index, matcher) in trigger.matchers.enumerated() where matcher.op.isRegex {
                    regexes[index] = Compiled(matcher.value)
                }
                let index = entries.count
                entries.append(Entry(runbook: runbook, triggerIndex: position, trigger: trigger, regexes: regexes))
                if let name = trigger.matchers.first(where: { $0.name == "alertname" && $0.op == .equal })?.value {
                    byAlertname[name, default: []].append(index)
                } else if let names = trigger.matchers.lazy.filter({ $0.name == "alertname" && $0.op == .regexMatch })
                    .compactMap({ Compiled($0.value).literals }).first
                {
                    for name in names { byAlertname[name, default: []].append(index) }
                } else {
                    unindexed.append(index)
                }
            }
        }
    }

    func candidates(for labels: [String: String]) -> [Entry] {
        let indexed = byAlertname[labels["alertname"] ?? ""] ?? []
        if unindexed.isEmpty { return indexed.map { entries[$0] } }
        return (indexed + unindexed).sorted().map { entries[$0] }
    }

    func evaluate(_ alert: Alert) -> [Evaluation] {
        candidates(for: alert.labels).map { entry in
            var failed: [(LabelMatcher, String?)] = []
            var matched = 0
            for (index, matcher) in entry.trigger.matchers.enumerated() {
                let holds: Bool
                if let compiled = entry.regexes[index] {
                    holds = compiled.matches(alert.labels[matcher.name] ?? "") == (matcher.op == .regexMatch)
                } else {
                    let actual = alert.labels[matcher.name] ?? ""
                    holds = matcher.op == .equal ? actual == matcher.value : actual != matcher.value
                }
                if holds {
                    matched += 1
                } else {
                    failed.append((matcher, alert.labels[matcher.name]))
                }
            }
            let status = entry.trigger.status
            let statusMismatch = status != .any && status.rawValue != alert.status.rawValue
            return Evaluation(entry: entry, failed: failed, matchedCount: matched, statusMismatch: statusMismatch)
        }
    }

    /// How many triggers hold for `alert`, through the old path.
    public func matchCount(_ alert: Alert) -> Int {
        evaluate(alert).filter(\.matches).count
    }

    /// One whole-value ICU match, for the hostile-pattern rows.
    public static func wholeMatch(_ pattern: String, _ value: String) -> Bool {
        Compiled(pattern).matches(value)
    }
}
