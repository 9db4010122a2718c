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
    /// A regular expression and a value, separated by a NUL byte: Go's syntax must parse or be refused
    /// cleanly, and the DFA and the NFA simulation must agree on every value.
    case regex

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
        case .regex:
            let bytes = [UInt8](data)
            let split = bytes.firstIndex(of: 0) ?? bytes.endIndex
            let pattern = String(decoding: bytes[..<split], as: UTF8.self)
            let value = Array(bytes[min(split + 1, bytes.endIndex)...])
            guard let regex = try? GoRegex(pattern), let anchored = try? GoRegex("\\A(?:" + pattern + ")\\z") else {
                return
            }
            // Linear, but the NFA simulation of a 250,000-instruction program over 64 KiB is still minutes.
            guard anchored.program.insts.count * (value.count + 1) <= 20_000_000 else { return }
            value.withUnsafeBufferPointer { value in
                let byDFA = regex.wholeMatch(bytes: value)
                guard byDFA == (anchored.firstMatch(bytes: value) != nil) else {
                    fatalError("`\(pattern)`: the DFA says \(byDFA), the NFA simulation disagrees")
                }
                if let nfa = BitParallelNFA(regex.program),
                    nfa.matches(value, from: 0, seeds: [Int32(regex.program.start)]) != byDFA
                {
                    fatalError("`\(pattern)`: the bit-parallel NFA disagrees with the DFA")
                }
                let found = regex.firstMatch(bytes: value)
                guard regex.matches(bytes: value) == (found != nil) else {
                    fatalError("`\(pattern)`: the search DFA and the NFA simulation disagree")
                }
                if let slots = found {
                    guard slots.count == 2 * (regex.captureCount + 1), slots[0] >= 0, slots[0] <= slots[1],
                        slots[1] <= value.count
                    else { fatalError("`\(pattern)`: match bounds \(slots) outside the value") }
                }
            }
        }
    }
}
