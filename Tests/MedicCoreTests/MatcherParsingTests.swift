import Foundation
import Testing

@testable import MedicCore

/// `match:` items read as Alertmanager reads a route's `matchers:` items. The tables reuse the inputs and
/// results of Alertmanager's own tests: `matcher/parse/parse_test.go` (UTF-8 parser),
/// `matcher/oldparse/parse_test.go` (classic parser) and `matcher/compat/parse_test.go` (fallback mode).
@Suite struct MatcherParsingTests {
    static func m(_ name: String, _ op: LabelMatcher.Operator, _ value: String) -> LabelMatcher {
        LabelMatcher(name: name, op: op, value: value)
    }

    static func utf8(_ text: String, regexIsValid: (String) -> Bool = { _ in true }) throws(MatcherSyntaxError)
        -> [LabelMatcher]
    {
        try UTF8MatcherParser.parse(Array(text.unicodeScalars), regexIsValid: regexIsValid)
    }

    static func classic(_ text: String, regexIsValid: (String) -> Bool = { _ in true }) throws(MatcherSyntaxError)
        -> [LabelMatcher]
    {
        try ClassicMatcherParser.parse(Array(text.unicodeScalars), regexIsValid: regexIsValid)
    }

    /// A stand-in for Go's `regexp.Compile`, good enough for the reference's invalid pattern.
    static func compiles(_ pattern: String) -> Bool {
        (try? NSRegularExpression(pattern: "^(?:\(pattern))$")) != nil
    }

    // MARK: UTF-8 parser

    @Test(
        "UTF-8 parser: accepted items",
        arguments: [
            ("", []),
            ("{}", []),
            ("{foo=bar}", [m("foo", .equal, "bar")]),
            ("{foo=bar,}", [m("foo", .equal, "bar")]),
            ("{foo!=bar}", [m("foo", .notEqual, "bar")]),
            ("{foo=~[a-z]+}", [m("foo", .regexMatch, "[a-z]+")]),
            ("{foo!~[a-z]+}", [m("foo", .regexNoMatch, "[a-z]+")]),
            ("{foo=🙂}", [m("foo", .equal, "🙂")]),
            ("{foo=🙂bar}", [m("foo", .equal, "🙂bar")]),
            ("foo=bar", [m("foo", .equal, "bar")]),
            ("foo=bar,", [m("foo", .equal, "bar")]),
            ("foo!=bar", [m("foo", .notEqual, "bar")]),
            ("foo=~[a-z]+", [m("foo", .regexMatch, "[a-z]+")]),
            ("foo!~[a-z]+", [m("foo", .regexNoMatch, "[a-z]+")]),
            (#"{"foo"="bar"}"#, [m("foo", .equal, "bar")]),
            (#"{"foo"="bar",}"#, [m("foo", .equal, "bar")]),
            (#"{"foo"!="bar"}"#, [m("foo", .notEqual, "bar")]),
            (#"{"foo"=~"[a-z]+"}"#, [m("foo", .regexMatch, "[a-z]+")]),
            (#"{"foo"!~"[a-z]+"}"#, [m("foo", .regexNoMatch, "[a-z]+")]),
            (#"{"foo"="🙂"}"#, [m("foo", .equal, "🙂")]),
            (#"{"foo"="\xf0\x9f\x99\x82"}"#, [m("foo", .equal, "🙂")]),
            (#"{"foo"="\U0001f642"}"#, [m("foo", .equal, "🙂")]),
            (#"{"foo"="🙂bar"}"#, [m("foo", .equal, "🙂bar")]),
            (#"{"foo"="bar\n"}"#, [m("foo", .equal, "bar\n")]),
            (#"{"foo"="bar\t"}"#, [m("foo", .equal, "bar\t")]),
            (#"{"foo"="\"bar\""}"#, [m("foo", .equal, "\"bar\"")]),
            (#"{"foo"="bar\\"}"#, [m("foo", .equal, "bar\\")]),
            (#""foo"="bar""#, [m("foo", .equal, "bar")]),
            (#""foo"="bar","#, [m("foo", .equal, "bar")]),
            ("{foo=bar,bar!=baz}", [m("foo", .equal, "bar"), m("bar", .notEqual, "baz")]),
            (#"{foo="bar",bar!="baz"}"#, [m("foo", .equal, "bar"), m("bar", .notEqual, "baz")]),
            ("foo=bar,bar!=baz", [m("foo", .equal, "bar"), m("bar", .notEqual, "baz")]),
            (#"foo="bar",bar!="baz""#, [m("foo", .equal, "bar"), m("bar", .notEqual, "baz")]),
            // Whitespace of any kind, line feeds and U+202F included, may stand between tokens.
            (
                "\n{ foo = bar ,\r\n\tbar\u{202F}!=\u{3000}baz }\n",
                [m("foo", .equal, "bar"), m("bar", .notEqual, "baz")]
            ),
            // Go string escapes in quoted strings; unquoted tokens are taken as written.
            (#""a"="\a\b\f\v\r\101\x41\u00e9""#, [m("a", .equal, "\u{07}\u{08}\u{0C}\u{0B}\rAAé")]),
            ("a:b.c/d-e=$x@y", [m("a:b.c/d-e", .equal, "$x@y")]),
            (#"""="""#, [m("", .equal, "")]),
            ("\u{212A}=e\u{0301}", [m("\u{212A}", .equal, "e\u{0301}")]),
        ])
    func utf8Accepts(text: String, expected: [LabelMatcher]) throws {
        #expect(try Self.utf8(text) == expected)
    }

    @Test(
        "UTF-8 parser: refused items, with the 0-based column of the problem",
        arguments: [
            (",", 0),
            ("{,}", 1),
            ("{", 1),  // the end of the item
            ("}", 0),
            ("foo=bar}", 7),
            ("{foo=bar", 8),
            (#"{foo=:"bar"}"#, 6),
            (#"{foo="bar\w"}"#, 9),  // the bad escape itself (Alertmanager names the whole token, from 5)
            (#"{foo=bar\n}"#, 8),
            (#"{"foo"="\xf0\x9f"}"#, 7),
            ("foo!bar", 3),
            ("foo!", 3),
            ("foo~bar", 3),
            ("'foo'=bar", 0),
            ("foo=`bar`", 4),
            (#""\'"=b"#, 1),
            (#"a="\ud800""#, 3),
            (#"a="\400""#, 3),
            (#"a="\x4""#, 3),
            ("a=\"x\ny\"", 4),
            ("a=b c=d", 4),
            (#"a="b"#, 2),
            ("a=b=c", 3),
            ("a=b,,", 4),
            ("{a=b}c", 5),
            ("{}{}", 2),
            ("=b", 0),
            ("a", 1),
            ("a=", 2),
        ])
    func utf8Refuses(text: String, column: Int) {
        #expect(throws: MatcherSyntaxError.self) { try Self.utf8(text) }
        do throws(MatcherSyntaxError) {
            _ = try Self.utf8(text)
        } catch {
            #expect(error.column == column, "\(error.message)")
        }
    }

    @Test("UTF-8 parser: a regex value must compile")
    func utf8Regex() {
        #expect(throws: MatcherSyntaxError.self) { try Self.utf8(#"foo=~"a[b""#, regexIsValid: Self.compiles) }
        #expect(throws: Never.self) { try Self.utf8(#"foo="a[b""#, regexIsValid: Self.compiles) }
    }

    // MARK: Classic parser

    @Test(
        "classic parser: accepted items",
        arguments: [
            ("{}", []),
            ("{foo='}", [m("foo", .equal, "'")]),
            ("{foo=`}", [m("foo", .equal, "`")]),
            (#"{foo=\"}"#, [m("foo", .equal, "\"")]),
            ("{foo=bar}", [m("foo", .equal, "bar")]),
            (#"{foo="bar"}"#, [m("foo", .equal, "bar")]),
            ("{foo=~bar.*}", [m("foo", .regexMatch, "bar.*")]),
            (#"{foo=~"bar.*"}"#, [m("foo", .regexMatch, "bar.*")]),
            ("{foo!=bar}", [m("foo", .notEqual, "bar")]),
            (#"{foo!="bar"}"#, [m("foo", .notEqual, "bar")]),
            ("{foo!~bar.*}", [m("foo", .regexNoMatch, "bar.*")]),
            (#"{foo!~"bar.*"}"#, [m("foo", .regexNoMatch, "bar.*")]),
            (#"{foo="bar", baz!="quux"}"#, [m("foo", .equal, "bar"), m("baz", .notEqual, "quux")]),
            (#"{foo="bar", baz!~"quux.*"}"#, [m("foo", .equal, "bar"), m("baz", .regexNoMatch, "quux.*")]),
            (
                #"{foo="bar",baz!~".*quux", derp="wat"}"#,
                [m("foo", .equal, "bar"), m("baz", .regexNoMatch, ".*quux"), m("derp", .equal, "wat")]
            ),
            (
                #"{foo="bar", baz!="quux", derp="wat"}"#,
                [m("foo", .equal, "bar"), m("baz", .notEqual, "quux"), m("derp", .equal, "wat")]
            ),
            (
                #"{foo="bar", instance=~"some-api.*"}"#,
                [m("foo", .equal, "bar"), m("instance", .regexMatch, "some-api.*")]
            ),
            (#"{foo=""}"#, [m("foo", .equal, "")]),
            (#"{foo="bar,quux", job="job1"}"#, [m("foo", .equal, "bar,quux"), m("job", .equal, "job1")]),
            (#"{foo = "bar", dings != "bums", }"#, [m("foo", .equal, "bar"), m("dings", .notEqual, "bums")]),
            ("foo=bar,dings!=bums", [m("foo", .equal, "bar"), m("dings", .notEqual, "bums")]),
            (
                #"{quote="She said: \"Hi, ladies! That's gender-neutral…\""}"#,
                [m("quote", .equal, #"She said: "Hi, ladies! That's gender-neutral…""#)]
            ),
            (#"statuscode=~"5..""#, [m("statuscode", .regexMatch, "5..")]),
            ("tricky=~~~", [m("tricky", .regexMatch, "~~")]),
            (#"trickier==\\=\=\""#, [m("trickier", .equal, #"=\=\=""#)]),
            (
                #"contains_quote != "\"" , contains_comma !~ "foo,bar" , "#,
                [m("contains_quote", .notEqual, "\""), m("contains_comma", .regexNoMatch, "foo,bar")]
            ),
            ("{foo=bar}}", [m("foo", .equal, "bar}")]),
            ("{foo=bar}},}", [m("foo", .equal, "bar}}")]),
            ("{foo=,bar=}}", [m("foo", .equal, ""), m("bar", .equal, "}")]),
            (#"{foo=bar\t}"#, [m("foo", .equal, #"bar\t"#)]),
            (#"{foo=bar\n}"#, [m("foo", .equal, "bar\n")]),
            (#"{foo=bar\}"#, [m("foo", .equal, #"bar\"#)]),
            (#"{foo=bar\\}"#, [m("foo", .equal, #"bar\"#)]),
            (#"{foo=bar\"}"#, [m("foo", .equal, #"bar""#)]),
            ("job=", [m("job", .equal, "")]),
            ("{foo=", [m("foo", .equal, "")]),
            ("{foo=}b", [m("foo", .equal, "}b")]),
            ("{foo=bar}\n", [m("foo", .equal, "bar}")]),
            // Colons in names; Go's `\s` trims ASCII space, tab, CR, LF, FF around a piece.
            ("job:rate5m = \t 1 \r\n", [m("job:rate5m", .equal, "1")]),
            // Only the last piece is trimmed of Unicode whitespace; the others keep what Go's `\s` leaves.
            ("a=\u{0B}b\u{0B},c=d\u{0B}", [m("a", .equal, "\u{0B}b\u{0B}"), m("c", .equal, "d")]),
        ])
    func classicAccepts(text: String, expected: [LabelMatcher]) throws {
        #expect(try Self.classic(text) == expected)
    }

    @Test(
        "classic parser: refused items",
        arguments: [
            ",", "{,}", #"job="value"#, #"job=value""#, #"trickier==\\=\=\"""#, #"contains_unescaped_quote = foo"bar"#,
            #"{invalid-name = "valid label"}"#, #""{foo=\"bar"}"#, #""foo=\"bar""#, #""foo=\"bar\"""#, #""foo=\"bar\""#,
            #""{foo=\"bar\"}""#, #""foo="bar"""#, "{{foo=", "foo🙂=bar", "foo!bar", " {foo=bar}",
            "a=b,,c=d", #"a="x\,",b=y"#,
        ])
    func classicRefuses(text: String) {
        #expect(throws: MatcherSyntaxError.self) { try Self.classic(text) }
    }

    @Test("classic parser: a regex value must compile")
    func classicRegex() {
        #expect(throws: MatcherSyntaxError.self) {
            try Self.classic(#"{foo=~"invalid[regexp"}"#, regexIsValid: Self.compiles)
        }
    }

    // MARK: Fallback, as Alertmanager reads a config `matchers:` item

    @Test(
        "fallback: the classic result when the classic parser reads the item, else the UTF-8 one",
        arguments: [
            ("foo=bar", [m("foo", .equal, "bar")]),
            ("foo🙂=bar", [m("foo🙂", .equal, "bar")]),
            (#"foo=!bar\n"#, [m("foo", .equal, "!bar\n")]),
            // Both read it and disagree: Alertmanager keeps the classic reading.
            (#"foo="\xf0\x9f\x99\x82""#, [m("foo", .equal, #"\xf0\x9f\x99\x82"#)]),
            (#"foo="a\tb""#, [m("foo", .equal, #"a\tb"#)]),
            ("{foo=bar,bar=baz}", [m("foo", .equal, "bar"), m("bar", .equal, "baz")]),
            ("{foo🙂=bar,bar=baz🙂}", [m("foo🙂", .equal, "bar"), m("bar", .equal, "baz🙂")]),
            (#"{foo=!bar,bar=$baz\n}"#, [m("foo", .equal, "!bar"), m("bar", .equal, "$baz\n")]),
            (#"{foo="\xf0\x9f\x99\x82"}"#, [m("foo", .equal, #"\xf0\x9f\x99\x82"#)]),
            // Issue 12's examples.
            ("foo=bar,dings!=bums", [m("foo", .equal, "bar"), m("dings", .notEqual, "bums")]),
            (#"msg=a\nb"#, [m("msg", .equal, "a\nb")]),
            (#"path=a\\b"#, [m("path", .equal, #"a\b"#)]),
            ("alertname=Disk\n", [m("alertname", .equal, "Disk")]),
            // `}` is dropped only when it ends the item: the classic parser reads `Disk}`, and wins.
            ("{alertname=Disk}\n", [m("alertname", .equal, "Disk}")]),
            ("alertname=\"Disk\"\n", [m("alertname", .equal, "Disk")]),
            ("job:rate5m=x", [m("job:rate5m", .equal, "x")]),
            (#""service.name"=api"#, [m("service.name", .equal, "api")]),
            ("föö=bar", [m("föö", .equal, "bar")]),
            ("\u{212A}=x", [m("\u{212A}", .equal, "x")]),
            (#"""=x"#, [m("", .equal, "x")]),
            // The UTF-8 parser refuses `\d` in quotes; the classic one keeps it for the regex.
            (#"ip=~"10\.0\.\d+""#, [m("ip", .regexMatch, #"10\.0\.\d+"#)]),
        ])
    func fallback(text: String, expected: [LabelMatcher]) throws {
        #expect(try LabelMatcher.parseMatchers(text) == expected)
    }

    @Test(
        "fallback: refused when both parsers refuse, and when the item holds no matcher",
        arguments: ["foo!bar", "{foo!bar}", "", "{}", " ", "{ }", "\n", ",", "{,}", "a=b,,c=d"])
    func fallbackRefuses(text: String) {
        #expect(throws: LabelMatcher.ParseError.self) { try LabelMatcher.parseMatchers(text) }
    }

    @Test("fallback: a regex one parser reads as invalid lets the other parser's reading win")
    func fallbackRegex() throws {
        // Classic keeps `\u0028\u0029`, which Go's regexp refuses; the UTF-8 parser decodes it to `()`.
        let goRefusesU: (String) -> Bool = { !$0.contains(#"\u"#) && Self.compiles($0) }
        #expect(
            try LabelMatcher.parseMatchers(#"a=~"\u0028\u0029""#, regexIsValid: goRefusesU) == [
                Self.m("a", .regexMatch, "()")
            ])
    }

    @Test("errors name the column of the problem within the item")
    func errorColumns() {
        func offset(_ text: String) -> Int? {
            do throws(LabelMatcher.ParseError) {
                _ = try LabelMatcher.parseMatchers(text)
                return nil
            } catch {
                return error.offset
            }
        }
        #expect(offset("alertname=Disk,sev!x") == 19)
        #expect(offset(#"alertname="X"#) == 11)
        #expect(offset("{}") == 1)
        #expect(offset("a=🙂 \"b") == 5)  // columns count Unicode scalars
    }

    // MARK: Byte equality

    @Test("matchers compare names and values by Unicode scalars, never by canonical equivalence")
    func byteEquality() {
        #expect(Self.m("k", .equal, "\u{212A}") != Self.m("k", .equal, "K"))
        #expect(Self.m("\u{212A}", .equal, "x") != Self.m("K", .equal, "x"))
        #expect(Self.m("v", .equal, "e\u{0301}") != Self.m("v", .equal, "\u{E9}"))
        #expect(Set([Self.m("v", .equal, "e\u{0301}"), Self.m("v", .equal, "\u{E9}")]).count == 2)
        #expect(Set([Self.m("ab", .equal, "c"), Self.m("a", .equal, "bc")]).count == 2)
        #expect(Self.m("v", .equal, "\u{E9}") == Self.m("v", .equal, "\u{E9}"))
    }

    @Test(
        "matching finds labels by exact name and compares values by bytes",
        arguments: [
            (m("k", .equal, "\u{212A}"), ["k": "K"], false),
            (m("k", .notEqual, "\u{212A}"), ["k": "K"], true),
            (m("k", .equal, "K"), ["k": "K"], true),
            (m("v", .equal, "e\u{0301}"), ["v": "\u{E9}"], false),
            (m("v", .equal, "\u{E9}"), ["v": "\u{E9}"], true),
            (m("\u{212A}", .equal, "x"), ["K": "x"], false),
            (m("K", .notEqual, "x"), ["\u{212A}": "x"], true),
            (m("K", .equal, ""), ["\u{212A}": "x"], true),
            (m("\u{E9}", .regexMatch, "x"), ["e\u{0301}": "x"], false),
        ])
    func exactMatching(matcher: LabelMatcher, labels: [String: String], expected: Bool) {
        #expect(matcher.matches(labels) == expected)
    }

    // MARK: Printing

    @Test(
        "description prints text that reads back to the same matcher",
        arguments: [
            m("", .equal, "x"), m("a b", .notEqual, "v"), m("föö", .regexMatch, "a|b"), m("\u{212A}", .equal, "K"),
            m("job:rate", .equal, "1"), m("1abc", .regexNoMatch, ""), m("a", .equal, "x,y=z}"),
            m("a", .equal, "{x"), m("a", .equal, " lead and trail \t"), m("a", .equal, "line\nfeed\r\n"),
            m("a", .equal, #"back\slash "quote" \n"#), m("a", .equal, "\u{A0}nbsp\u{0B}"), m(#"q"n\"#, .equal, "\n"),
            m("a", .equal, "e\u{0301}"), m("a", .equal, #"\"#), m("a", .equal, #"x\"#), m("a", .equal, "\""),
        ])
    func roundTrip(matcher: LabelMatcher) throws {
        #expect(try LabelMatcher.parseMatchers(matcher.description) == [matcher], "\(matcher.description)")
        let pair = [matcher, Self.m("b", .equal, "c")]
        #expect(try LabelMatcher.parseMatchers(pair.map(\.description).joined(separator: ",")) == pair)
    }

    // MARK: Runbooks

    static func runbook(_ id: String, triggers: String) -> RunbookSource {
        let text = """
            runbook: \(id)
            triggers:
            \(triggers)
            steps:
              - id: a
                run: ["true"]
                timeout: 1s
            """
        return RunbookSource.check(data: Data(text.utf8), path: "\(id).yaml")
    }

    @Test("a runbook whose items hold several matchers, braces and a YAML `- |` item validates")
    func decodesItems() throws {
        let source = Self.runbook(
            "multi",
            triggers: """
                  - match: ['alertname=Disk,severity=~"warning|critical"', '{team="ops",}']
                  - match:
                      - |
                        alertname=Kelvin
                """)
        #expect(source.diagnostics.isEmpty, "\(source.diagnostics.map(\.text))")
        let runbook = try #require(source.runbook)
        #expect(
            runbook.triggers[0].matchers == [
                Self.m("alertname", .equal, "Disk"), Self.m("severity", .regexMatch, "warning|critical"),
                Self.m("team", .equal, "ops"),
            ])
        #expect(runbook.triggers[1].matchers == [Self.m("alertname", .equal, "Kelvin")])
    }

    @Test(
        "a bad item is reported at its line and column, whatever the YAML style",
        arguments: [
            ("  - match: ['alertname=Disk,sev!x']", 3, 32),
            ("  - match:\n      - alertname=Disk,sev!x", 4, 27),
            ("  - match: [\"alertname=Disk,sev!x\"]", 3, 32),
            ("  - match: ['{}']", 3, 14),
        ])
    func reportsPosition(triggers: String, line: Int, column: Int) throws {
        let source = Self.runbook("bad", triggers: triggers)
        let errors = source.diagnostics.filter { $0.severity == .error }
        #expect(errors.map(\.id) == ["malformed-matcher"])
        let location = try #require(errors.first?.location)
        #expect(location.line == line)
        #expect(location.column == column)
    }

    @Test("triggers match through the index and AlertMatcher by bytes, several matchers per item")
    func matchesThroughIndex() throws {
        let runbooks = [
            try #require(Self.runbook("kelvin", triggers: "  - match: ['alertname=\"\u{212A}elvin\"']").runbook),
            try #require(Self.runbook("cafe", triggers: "  - match: ['alertname=Cafe,city=caf\u{E9}']").runbook),
            try #require(Self.runbook("multi", triggers: "  - match: ['{alertname=Disk,severity=critical}']").runbook),
        ]
        let index = TriggerIndex(runbooks)
        #expect(index.candidates(for: ["alertname": "Kelvin"]).isEmpty)
        #expect(index.candidates(for: ["alertname": "\u{212A}elvin"]).map(\.runbook.id) == ["kelvin"])

        let matcher = AlertMatcher(runbooks: runbooks)
        func matched(_ labels: [String: String]) -> [String] {
            matcher.explain(Alert(source: .alertmanager, status: .firing, labels: labels)).matches.map(\.runbook)
        }
        #expect(matched(["alertname": "Kelvin"]) == [])
        #expect(matched(["alertname": "\u{212A}elvin"]) == ["kelvin"])
        #expect(matched(["alertname": "Cafe", "city": "cafe\u{0301}"]) == [])
        #expect(matched(["alertname": "Cafe", "city": "caf\u{E9}"]) == ["cafe"])
        #expect(matched(["alertname": "Disk", "severity": "critical"]) == ["multi"])
        #expect(matched(["alertname": "Disk", "severity": "warning"]) == [])
        let nearMiss = matcher.explain(
            Alert(source: .alertmanager, status: .firing, labels: ["alertname": "Cafe", "city": "cafe\u{0301}"]))
        #expect(nearMiss.nearMisses.map(\.runbook) == ["cafe"])
    }
}
