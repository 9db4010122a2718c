import Foundation

/// One Alertmanager label matcher, such as `severity=~"warning|critical"`.
///
/// Semantics are Alertmanager's: regexes are fully anchored, a missing label equals the empty string, and names
/// and values compare by Unicode scalars (bytes), never by canonical equivalence.
public struct LabelMatcher: Sendable, Hashable, CustomStringConvertible {
    /// The four Alertmanager operators.
    public enum Operator: String, Sendable, Hashable, CaseIterable {
        case equal = "="
        case notEqual = "!="
        case regexMatch = "=~"
        case regexNoMatch = "!~"

        public var isRegex: Bool { self == .regexMatch || self == .regexNoMatch }
    }

    public var name: String
    public var op: Operator
    public var value: String

    public init(name: String, op: Operator, value: String) {
        self.name = name
        self.op = op
        self.value = value
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.op == rhs.op && lhs.name.isExactly(rhs.name) && lhs.value.isExactly(rhs.value)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(op)
        hasher.combine(ExactText(name))
        hasher.combine(ExactText(value))
    }

    /// Compiles the value as Go's `regexp` does (Alertmanager anchors it: `GoRegex.wholeMatch`); throws when
    /// Go would refuse it.
    public func compiledRegex() throws(GoRegex.SyntaxError) -> GoRegex {
        try GoRegex.alertmanager(value)
    }

    /// Whether the matcher holds for `labels` (a missing label counts as ""). The label is found by its exact
    /// name and compared by bytes. For regex operators, `regex` must be `compiledRegex()`; it is compiled on the
    /// fly when nil.
    public func matches(_ labels: [String: String], regex: GoRegex? = nil) -> Bool {
        let actual = labels.value(forExactKey: name) ?? ""
        switch op {
        case .equal: return actual.isExactly(value)
        case .notEqual: return !actual.isExactly(value)
        case .regexMatch, .regexNoMatch:
            guard let regex = regex ?? (try? compiledRegex()) else { return false }
            let found = regex.matches(actual)
            return op == .regexMatch ? found : !found
        }
    }

    /// Canonical text: `name="value"` with the value quoted and escaped (`\\`, `\"`, `\n`), read back to the same
    /// matcher by `parseMatchers`. A name the classic parser cannot read unquoted is quoted too, which the
    /// UTF-8 parser reads (Alertmanager prints it the same way).
    public var description: String {
        // By scalars: a quote followed by a combining mark is one Character, which a Character-wise
        // replace would miss (found by fuzzing).
        func quoted(_ text: String) -> String {
            var escaped = String.UnicodeScalarView()
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\\": escaped.append(contentsOf: "\\\\".unicodeScalars)
                case "\"": escaped.append(contentsOf: "\\\"".unicodeScalars)
                case "\n": escaped.append(contentsOf: "\\n".unicodeScalars)
                default: escaped.append(scalar)
                }
            }
            return "\"" + String(escaped) + "\""
        }
        // A name that is not a plain label name is quoted and escaped like the value (found by fuzzing).
        let printedName = MatcherCharacters.isClassicLabelName(name) ? name : quoted(name)
        return "\(printedName)\(op.rawValue)\(quoted(value))"
    }
}
