extension DiagnosticMessage {
    static func unknownKey(_ key: String, in what: String, suggestion: String?, belongsUnder: String? = nil) -> Self {
        let hint =
            belongsUnder.map { "; it belongs under '\($0)'" } ?? suggestion.map { "; did you mean '\($0)'?" } ?? ""
        return .init(id: "unknown-key", "unknown key '\(key)' in \(what)\(hint)")
    }
    static func missingKey(_ key: String, in what: String) -> Self {
        .init(id: "missing-key", "\(what) is missing required key '\(key)'")
    }
    static func wrongType(expected: String, found: String) -> Self {
        .init(id: "wrong-type", "expected \(expected), found \(found)")
    }
    static let nonScalarKey = Self(id: "wrong-type", "mapping keys must be plain strings")
    static func invalidEnumValue(_ value: String, allowed: [String], suggestion: String?) -> Self {
        let hint = suggestion.map { "; did you mean '\($0)'?" } ?? ""
        return .init(
            id: "invalid-value", "'\(value)' is not one of \(allowed.map { "'\($0)'" }.joined(separator: ", "))\(hint)")
    }
    static func invalidDuration(_ text: String) -> Self {
        let unitless = Int(text) != nil ? " (durations need a unit: \(text)s?)" : ""
        return .init(
            id: "invalid-duration", "'\(text)' is not a duration; write e.g. 500ms, 10s, 5m, 1h, 1h30m\(unitless)")
    }
    static func mustBePositive(_ what: String) -> Self {
        .init(id: "invalid-value", "\(what) must be greater than zero")
    }
    static func outOfRange(_ what: String, _ range: String) -> Self {
        .init(id: "invalid-value", "\(what) must be \(range)")
    }
    static func invalidIdentifier(_ text: String, kind: String, shape: String) -> Self {
        .init(id: "invalid-id", "'\(text)' is not a valid \(kind) (expected \(shape))")
    }
    static let runAndShell = Self(id: "run-and-shell", "a step has either `run` or `shell`, not both")
    static let neitherRunNorShell = Self(
        id: "missing-command", "a step needs `run` (an argv list) or `shell` (a script)")
    static let runIsString = Self(
        id: "wrong-type",
        "`run` takes a list of arguments, e.g. [systemctl, restart, nginx]; it is never split or given to a shell (use `shell:` for a script)"
    )
    static let emptyRun = Self(id: "invalid-value", "`run` needs at least the program to execute")
    static let emptyString = Self(id: "invalid-value", "value may not be empty")
    static func templateSyntax(_ message: String) -> Self {
        .init(id: "template-syntax", message)
    }
    static func expressionSyntax(_ message: String) -> Self {
        .init(id: "expression-syntax", "in `when`: \(message)")
    }
    static func invalidSource(_ text: String) -> Self {
        .init(
            id: "invalid-source",
            "'\(text)' is not a param source; use alert.labels.NAME, alert.annotations.NAME, alert.fingerprint or env.NAME"
        )
    }
    static func invalidRegex(_ pattern: String, _ error: GoRegex.SyntaxError) -> Self {
        .init(
            id: "invalid-regex",
            "invalid regular expression '\(pattern)': \(error) at character \(error.offset + 1) of the pattern; "
                + "the syntax is Go's regexp (RE2), as in Alertmanager")
    }
    static func invalidTarget(_ text: String) -> Self {
        .init(
            id: "invalid-target",
            "'\(text)' is not a target; write `local` or `{ssh: '{{ params.node }}', user: NAME, port: 22}`")
    }
    static func invalidHost(_ problem: String) -> Self {
        .init(id: "invalid-host", "invalid ssh host: \(problem)")
    }
    static func extractWithoutGroup(_ pattern: String) -> Self {
        .init(
            id: "invalid-regex",
            "`extract` '\(pattern)' has no capturing group; the value becomes what the first group captures, "
                + "e.g. '([^:]+)(?::[0-9]+)?'")
    }
    static func malformedMatcher(_ text: String, _ problem: String) -> Self {
        .init(id: "malformed-matcher", "malformed matcher '\(text)': \(problem)")
    }
    static let emptyMatch = Self(
        id: "empty-match", "a trigger needs at least one matcher; an empty `match` would start on every alert")
    static func reservedEnvironment(_ name: String) -> Self {
        .init(id: "reserved-env", "'\(name)' is set by Medic for every step and cannot be overridden")
    }
    static let emptySteps = Self(id: "missing-key", "a runbook needs at least one step")
    static let notAMapping = Self(
        id: "wrong-type", "a runbook file must be a YAML mapping with `runbook:` and `steps:`")
    static func nullValue(_ key: String) -> Self {
        .init(id: "wrong-type", "'\(key)' has no value; remove the key or give it a value")
    }
}
