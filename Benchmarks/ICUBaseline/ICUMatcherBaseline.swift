import Foundation
import MedicCore

/// The matcher path Medic had before its own regex engine, kept only as the benchmark's baseline
/// (`medic bench match` prints the ratio to it): an alertname index keyed by Swift strings, plain-word
/// alternations as a `Set<String>`, everything else through ICU's `NSRegularExpression` with
/// `^(?:re)$`. It backtracks, compares strings by canonical equivalence, and is not used anywhere else.
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

    struct Entry {
        let matchers: [LabelMatcher]
        let regexes: [Int: Compiled]
    }

    private var entries: [Entry] = []
    private var byAlertname: [String: [Int]] = [:]
    private var unindexed: [Int] = []

    public init(_ runbooks: [Runbook]) {
        for runbook in runbooks {
            for trigger in runbook.triggers {
                var regexes: [Int: Compiled] = [:]
                for (index, matcher) in trigger.matchers.enumerated() where matcher.op.isRegex {
                    regexes[index] = Compiled(matcher.value)
                }
                let index = entries.count
                entries.append(Entry(matchers: trigger.matchers, regexes: regexes))
                if let name = trigger.matchers.first(where: { $0.name == "alertname" && $0.op == .equal })?.value {
                    byAlertname[name, default: []].append(index)
                } else {
                    unindexed.append(index)
                }
            }
        }
    }

    /// How many triggers hold for `labels`.
    public func matchCount(_ labels: [String: String]) -> Int {
        let candidates = (byAlertname[labels["alertname"] ?? ""] ?? []) + unindexed
        return candidates.count { index in
            let entry = entries[index]
            return entry.matchers.enumerated().allSatisfy { position, matcher in
                let actual = labels[matcher.name] ?? ""
                switch matcher.op {
                case .equal: return actual == matcher.value
                case .notEqual: return actual != matcher.value
                case .regexMatch: return entry.regexes[position]?.matches(actual) ?? false
                case .regexNoMatch: return !(entry.regexes[position]?.matches(actual) ?? false)
                }
            }
        }
    }

    /// One whole-value ICU match, for the hostile-pattern rows.
    public static func wholeMatch(_ pattern: String, _ value: String) -> Bool {
        Compiled(pattern).matches(value)
    }
}
