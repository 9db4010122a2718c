import Foundation

/// The parsers that take untrusted text, as libFuzzer entry points (`scripts/fuzz.sh`) and as regression
/// replays (`Tests/MedicCoreTests/Fixtures/fuzz`). Each must return for any input, never crash or hang, and
/// keep the invariants checked here; a broken invariant traps so the fuzzer records the input.
public enum FuzzTarget: String, Sendable, CaseIterable {
    /// A runbook file: YAML loading with its limits, decoding, validation.
    case runbook
    /// The three alert payload decoders.
    case alertmanager, grafana, json
    /// One `match:` item: Alertmanager label matchers such as `severity=~"warning|critical",team!=ops`.
    case matcher
    /// A `when` expression.
    case expression

    public func run(_ data: Data) {
        switch self {
        case .runbook:
            let source = RunbookSource.check(data: data, path: "fuzz.yaml")
            if let runbook = source.runbook, !source.diagnostics.hasErrors {
                // A runbook that validates has a step graph that builds.
                guard case .success = StepGraph.build(runbook.steps) else {
                    fatalError("a valid runbook's step graph does not build")
                }
            }
        case .alertmanager, .grafana, .json:
            let format = AlertPayloadDecoder.Format(rawValue: rawValue)!
            guard let alerts = try? AlertPayloadDecoder.decode(data, format: format) else { return }
            for alert in alerts {
                guard AlertPayloadDecoder.isFingerprint(alert.fingerprint) else {
                    fatalError("fingerprint '\(alert.fingerprint)' is not 16 hex digits")
                }
            }
        case .matcher:
            let text = String(decoding: data, as: UTF8.self)
            guard let matchers = try? LabelMatcher.parseMatchers(text) else { return }
            // What Medic prints back parses to the same matchers, one by one and as a comma-separated item.
            for matcher in matchers {
                guard let again = try? LabelMatcher.parseMatchers(matcher.description), again == [matcher] else {
                    fatalError("matcher \(matcher.description) does not round-trip")
                }
                // Equality is by bytes: a label holding exactly the value is equal to it.
                let own = matcher.matches([matcher.name: matcher.value])
                if (matcher.op == .equal && !own) || (matcher.op == .notEqual && own) {
                    fatalError("matcher \(matcher.description) misjudges a label holding its own value")
                }
                _ = matcher.matches(["alertname": "Fuzz"])
            }
            let joined = matchers.map(\.description).joined(separator: ",")
            guard let again = try? LabelMatcher.parseMatchers(joined), again == matchers else {
                fatalError("matchers \(joined) do not round-trip as one item")
            }
        case .expression:
            let text = String(decoding: data, as: UTF8.self)
            guard case .success(let expression) = ExpressionParser.parse(text) else { return }
            _ = ExpressionTypeChecker.check(expression) { _ in .string }
            _ = ExpressionTypeChecker.check(expression) { _ in .int }
        }
    }
}
