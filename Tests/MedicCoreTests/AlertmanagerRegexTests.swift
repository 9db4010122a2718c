import Foundation
import Testing

@testable import MedicCore

/// A matcher's or a param pattern's regex as Alertmanager compiles it (`^(?:v)$` by text, `MatchString`),
/// exact comparisons on every path an alert's text takes, and the bounds that keep hostile input cheap.
@Suite struct AlertmanagerRegexTests {
    @Test(
        "values mean what they mean in Alertmanager, ^(?:v)$ included",
        arguments: [
            ("a)|(b", "ax", true), ("a)|(b", "xb", true), ("a)|(b", "xx", false),
            (")|(", "anything", true), ("warning|critical", "critical", true), ("warn", "warning", false),
            ("(?m)b", "a\nb", false), ("", "", true), ("", "x", false),
        ])
    func wrapped(_ value: String, _ label: String, _ expected: Bool) throws {
        let regex = try GoRegex.alertmanager(value)
        #expect(regex.matches(label) == expected, "\(value) against \(label.debugDescription)")
        let matcher = LabelMatcher(name: "x", op: .regexMatch, value: value)
        #expect(matcher.matches(["x": label]) == expected)
    }

    @Test("a value Alertmanager refuses once wrapped is refused, and says so; otherwise positions are the value's")
    func wrappedErrors() {
        #expect(throws: GoRegex.SyntaxError.self) { try GoRegex.alertmanager("\\Qfoo") }
        do {
            _ = try GoRegex.alertmanager("\\Qfoo")
        } catch {
            #expect(error.code == .missingParen)
            #expect("\(error)".contains("as Alertmanager compiles it: ^(?:\\Qfoo)$"))
        }
        do {
            _ = try GoRegex.alertmanager("db-(\\d+")
        } catch {
            #expect(error.code == .missingParen && error.offset == 3 && error.note == nil)
        }
    }

    static func runbook(_ yaml: String) -> RunbookSource {
        RunbookSource.check(data: Data(yaml.utf8), path: "r.yaml")
    }

    @Test("a regex error in the second matcher of an item points into the second pattern")
    func secondMatcherColumn() throws {
        let source = Self.runbook(
            """
            runbook: r
            triggers:
              - match: ['alertname=~"Disk(",x=~"k("']
            steps:
              - id: a
                run: ["true"]
                timeout: 1s
            """)
        let columns = source.diagnostics.filter { $0.id == "invalid-regex" }.compactMap(\.location?.column)
        // The item starts at column 14; the unclosed `(` of `Disk(` is column 30, that of `k(` column 38.
        #expect(columns == [30, 38])
    }

    @Test("an enum admits exactly its values: the Kelvin sign is not K")
    func exactEnum() throws {
        let source = Self.runbook(
            """
            runbook: r
            params:
              svc: { type: string, from: alert.labels.svc, enum: [Kafka, Zookeeper] }
            triggers:
              - match: ['alertname="X"']
            steps:
              - id: a
                run: [systemctl, restart, '{{ params.svc }}']
                timeout: 1s
            """)
        let runbook = try #require(source.runbook)
        func prepared(_ svc: String) -> Bool {
            let alert = Alert(source: .alertmanager, status: .firing, labels: ["alertname": "X", "svc": svc])
            if case .success = PreparedRun.prepare(runbook, runID: "r", given: [:], alert: alert, environment: [:]) {
                return true
            }
            return false
        }
        #expect(prepared("Kafka"))
        #expect(!prepared("\u{212A}afka"))
        #expect(!prepared("Zookeepe\u{72}\u{301}"))
    }

    @Test("`when` compares by bytes: ==, in, contains")
    func exactWhen() throws {
        let context = RunContext(
            runID: "r", params: ["svc": .string("\u{212A}afka"), "name": .string("caf\u{E9}")], alert: nil)
        func holds(_ text: String) throws -> Bool {
            guard case .success(let expression) = ExpressionParser.parse(text) else {
                Issue.record("does not parse: \(text)")
                return false
            }
            return expression.evaluate(in: context)
        }
        #expect(try !holds("params.svc == 'Kafka'"))
        #expect(try holds("params.svc == '\u{212A}afka'"))
        #expect(try !holds("params.svc in ['Kafka', 'Zookeeper']"))
        #expect(try !holds("params.name contains 'e\u{301}'"))
        #expect(try holds("params.name contains 'caf'"))
    }

    @Test("characters beyond ASCII do not grow a DFA's cache past what its classes tell apart")
    func boundedUnicodeCache() throws {
        var scalars = String.UnicodeScalarView()
        for value in 0x4E00..<(0x4E00 + 20_000) { scalars.append(Unicode.Scalar(value)!) }
        let wide = String(scalars)
        let regex = try GoRegex.alertmanager("x1|.*-canary")
        #expect(!regex.matches(wide))
        #expect(regex.matches(wide + "-canary"))
        let size = regex.searchDFA.cacheSize
        #expect(size.otherTransitions < 16, "\(size)")
        #expect(size.states < 64, "\(size)")
    }

    @Test("the deepest pattern allowed parses and compiles on a small thread stack; deeper is refused")
    func deepPatterns() async throws {
        let deepest = String(repeating: "(", count: RegexParser.maxDepth - 1) + "x{0,1000}"
            + String(repeating: "){0,1}", count: RegexParser.maxDepth - 1)
        let alternatives = "(" + (0..<3_000).map { "a\($0)" }.joined(separator: "|") + ")"
        let outcome = await withCheckedContinuation { continuation in
            let thread = Thread {
                let deep = (try? GoRegex(deepest)).map { $0.wholeMatch("xxx") }
                let tooDeep = (try? GoRegex(String(repeating: "(", count: 300) + String(repeating: ")", count: 300)))
                let wide = (try? GoRegex(alternatives))?.firstMatch(in: "a2999")
                continuation.resume(returning: (deep, tooDeep == nil, wide))
            }
            // Debug builds use several times the stack of release builds; release runs the same on 512 KiB.
            thread.stackSize = 4 << 20
            thread.start()
        }
        #expect(outcome.0 == true)
        #expect(outcome.1)
        // Leftmost-first: `a2` is the first alternative that matches.
        #expect(outcome.2 == [0, 2, 0, 2])
    }

    @Test("an alternation naming the same alertname twice makes the trigger a candidate once")
    func duplicateAlternatives() throws {
        let runbook = try #require(
            Self.runbook(
                """
                runbook: r
                triggers:
                  - match: ['alertname=~"Disk|Disk"', 'severity="critical"']
                steps:
                  - id: a
                    run: ["true"]
                    timeout: 1s
                """
            ).runbook)
        let index = TriggerIndex([runbook])
        #expect(index.candidates(for: ["alertname": "Disk"]).count == 1)
    }
}
