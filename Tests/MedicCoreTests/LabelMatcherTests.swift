import MedicCore
import Testing

@Suite struct LabelMatcherTests {
    @Test(
        "parses Alertmanager matcher syntax",
        arguments: [
            ("alertname=\"Disk\"", LabelMatcher(name: "alertname", op: .equal, value: "Disk")),
            (
                "severity=~\"warning|critical\"",
                LabelMatcher(name: "severity", op: .regexMatch, value: "warning|critical")
            ),
            ("team!=\"ops\"", LabelMatcher(name: "team", op: .notEqual, value: "ops")),
            ("mountpoint!~\"/boot.*\"", LabelMatcher(name: "mountpoint", op: .regexNoMatch, value: "/boot.*")),
            ("  job = node ", LabelMatcher(name: "job", op: .equal, value: "node")),
            ("job=", LabelMatcher(name: "job", op: .equal, value: "")),
            ("msg=\"say \\\"hi\\\"\\n\"", LabelMatcher(name: "msg", op: .equal, value: "say \"hi\"\n")),
            ("path=~\"a\\\\b\"", LabelMatcher(name: "path", op: .regexMatch, value: "a\\b")),
            ("ip=~\"10\\.0\\.\\d+\"", LabelMatcher(name: "ip", op: .regexMatch, value: "10\\.0\\.\\d+")),
            ("{alertname=\"X\"}", LabelMatcher(name: "alertname", op: .equal, value: "X")),
            ("\"odd name\"=\"v\"", LabelMatcher(name: "odd name", op: .equal, value: "v")),
            ("a==b", LabelMatcher(name: "a", op: .equal, value: "=b")),
            // Alertmanager 0.27+ reads unquoted UTF-8 names, digits first included.
            ("1abc=\"x\"", LabelMatcher(name: "1abc", op: .equal, value: "x")),
        ])
    func parses(text: String, expected: LabelMatcher) throws {
        #expect(try LabelMatcher.parse(text) == expected)
    }

    @Test(
        "rejects malformed matchers with a reason",
        arguments: [
            "", "alertname", "=\"x\"", "alertname ~ \"x\"", "alertname=\"x", "a=\"x\" b=\"y\"",
            "a=x\"y",
        ])
    func rejects(text: String) {
        #expect(throws: LabelMatcher.ParseError.self) { try LabelMatcher.parse(text) }
    }

    @Test(
        "matches with Alertmanager semantics",
        arguments: [
            // Regexes are fully anchored.
            ("severity=~\"warn\"", ["severity": "warning"], false),
            ("severity=~\"warn.*\"", ["severity": "warning"], true),
            ("severity=~\"warning|critical\"", ["severity": "critical"], true),
            ("severity!~\"warning|critical\"", ["severity": "info"], true),
            // A missing label equals "".
            ("team!=\"ops\"", [:], true),
            ("team=\"\"", [:], true),
            ("team=~\".*\"", [:], true),
            ("team=~\".+\"", [:], false),
            ("team!~\".+\"", [:], true),
            ("alertname=\"Disk\"", ["alertname": "disk"], false),
        ])
    func matches(text: String, labels: [String: String], expected: Bool) throws {
        #expect(try LabelMatcher.parse(text).matches(labels) == expected)
    }

    @Test("prints canonically and round-trips")
    func roundTrip() throws {
        let matcher = LabelMatcher(name: "msg", op: .regexNoMatch, value: "a\"b\\c")
        #expect(matcher.description == #"msg!~"a\"b\\c""#)
        #expect(try LabelMatcher.parse(matcher.description) == matcher)
    }
}
