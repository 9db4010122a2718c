import Foundation
import MedicCore
import Testing

/// Every input a fuzzer broke Medic with (`scripts/fuzz.sh`), replayed through its target, plus a check of
/// what the fix promised for that input.
@Suite struct FuzzRegressionTests {
    static let directory = Fixtures.testsDirectory.appendingPathComponent("Fixtures/fuzz")

    static func inputs(_ target: FuzzTarget) -> [URL] {
        let folder = directory.appendingPathComponent(target.rawValue)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.sorted().map { folder.appendingPathComponent($0) }
    }

    @Test("every saved fuzz input goes through its target again", arguments: FuzzTarget.allCases)
    func replay(_ target: FuzzTarget) throws {
        for file in Self.inputs(target) {
            target.run(try Data(contentsOf: file))
        }
    }

    @Test("there are saved inputs, so the replay above is not empty")
    func savedInputsExist() {
        #expect(!Self.inputs(.matcher).isEmpty)
        #expect(!Self.inputs(.alertmanager).isEmpty)
        #expect(!Self.inputs(.grafana).isEmpty)
        #expect(!Self.inputs(.expression).isEmpty)
    }

    @Test("a `when` chain too long to check safely is refused with the reason; a long real one still parses")
    func longExpressionChain() {
        let hostile = Array(repeating: "3", count: 3_000).joined(separator: "&&")
        guard case .failure(let error) = ExpressionParser.parse(hostile) else {
            Issue.record("a 3,000-term chain was accepted")
            return
        }
        #expect(error.message.contains("too long"))
        let real = (0..<40).map { "params.n != \($0)" }.joined(separator: " && ")
        guard case .success = ExpressionParser.parse(real) else {
            Issue.record("a 40-term condition was refused")
            return
        }
    }

    @Test("a quoted label name holding a quote prints back as a matcher that parses to the same one")
    func matcherNameRoundTrip() throws {
        let parsed = try Self.inputs(.matcher).compactMap {
            try? LabelMatcher.parse(String(decoding: try Data(contentsOf: $0), as: UTF8.self))
        }
        #expect(!parsed.isEmpty)
        for matcher in parsed {
            #expect(try LabelMatcher.parse(matcher.description) == matcher)
        }
        let tricky = LabelMatcher(name: #"a"b\c"#, op: .regexMatch, value: #"x\"y"#)
        #expect(tricky.description == #""a\"b\\c"=~"x\\\"y""#)
        #expect(try LabelMatcher.parse(tricky.description) == tricky)
    }

    @Test("an unquoted value with a quote hidden in a grapheme (quote + combining mark) is refused")
    func quoteWithCombiningMark() {
        #expect(throws: LabelMatcher.ParseError.self) { try LabelMatcher.parse("a=x\"\u{0745}") }
        #expect(throws: LabelMatcher.ParseError.self) { try LabelMatcher.parse("a=\"\u{0301}") }
    }

    @Test("a payload fingerprint that is not 16 lowercase hex digits is replaced by the labels' fingerprint")
    func untrustedFingerprint() throws {
        for (target, format) in [
            (FuzzTarget.alertmanager, AlertPayloadDecoder.Format.alertmanager), (.grafana, .grafana),
        ] {
            for file in Self.inputs(target) {
                for alert in try AlertPayloadDecoder.decode(try Data(contentsOf: file), format: format) {
                    #expect(AlertPayloadDecoder.isFingerprint(alert.fingerprint))
                }
            }
        }
        let payload = #"{"alerts":[{"status":"firing","labels":{"alertname":"A"},"fingerprint":"DROP TABLE\n"}]}"#
        let alert = try #require(try AlertPayloadDecoder.decode(Data(payload.utf8), format: .alertmanager).first)
        #expect(alert.fingerprint == Alert.fingerprint(of: ["alertname": "A"]))
        let kept = #"{"alerts":[{"status":"firing","labels":{"alertname":"A"},"fingerprint":"0123456789abcdef"}]}"#
        #expect(
            try AlertPayloadDecoder.decode(Data(kept.utf8), format: .alertmanager).first?.fingerprint
                == "0123456789abcdef")
    }
}
