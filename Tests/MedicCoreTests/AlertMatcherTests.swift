import Foundation
import MedicCore
import MedicStore
import Testing

@Suite struct AlertMatcherTests {
    static func runbook(
        _ id: String, match: String, status: String = "firing", mode: String = "autonomous", params: String = ""
    ) throws -> Runbook {
        let text = """
            runbook: \(id)
            \(params)
            triggers:
              - match: [\(match)]
                status: \(status)
            policy:
              mode: \(mode)
            steps:
              - id: a
                run: ["true"]
                timeout: 1s
            """
        return try #require(RunbookSource.check(data: Data(text.utf8), path: "\(id).yaml").runbook)
    }

    static func alert(_ labels: [String: String], status: Alert.Status = .firing, source: Alert.Source = .alertmanager)
        -> Alert
    {
        Alert(source: source, status: status, labels: labels)
    }

    @Test("indexed by alertname: only triggers naming the alert (and those that cannot be indexed) are candidates")
    func index() throws {
        let runbooks =
            try (0..<100).map { try Self.runbook("rb-\($0)", match: "'alertname=\"A\($0)\"'") }
            + [try Self.runbook("any-critical", match: "'severity=\"critical\"'")]
            + [try Self.runbook("either", match: "'alertname=~\"A42|B7\"'")]
        let index = TriggerIndex(runbooks)
        let candidates = index.candidates(for: ["alertname": "A42", "severity": "warning"])
        #expect(candidates.map(\.runbook.id) == ["rb-42", "any-critical", "either"])
        #expect(index.candidates(for: ["alertname": "B7"]).map(\.runbook.id) == ["any-critical", "either"])
    }

    @Test("decisions: run, shadow (per runbook and global), suppressed by params and by Grafana housekeeping")
    func decisions() throws {
        let runbooks = [
            try Self.runbook(
                "live", match: "'alertname=\"Disk\"'",
                params: "params:\n  host: { type: string, from: alert.labels.instance, pattern: '[a-z0-9.:-]+' }"),
            try Self.runbook("quiet", match: "'alertname=\"Disk\"'", mode: "shadow"),
            try Self.runbook("any", match: "'alertname=~\".+\"'"),
        ]
        let matcher = AlertMatcher(runbooks: runbooks)
        let ok = matcher.explain(Self.alert(["alertname": "Disk", "instance": "db1:9100"]))
        #expect(ok.matches.map { "\($0.runbook):\($0.decision.rawValue)" } == ["live:run", "quiet:shadow", "any:run"])
        #expect(ok.matches.first?.params == ["host": "db1:9100"])

        let hostile = matcher.explain(Self.alert(["alertname": "Disk", "instance": "db1; rm -rf /"]))
        #expect(hostile.matches.first?.decision == .suppressed)
        #expect(hostile.matches.first?.reason.contains("does not match pattern") == true)

        let shadowed = AlertMatcher(runbooks: runbooks, globalShadow: true).explain(
            Self.alert(["alertname": "Disk", "instance": "db1"]))
        #expect(shadowed.matches.allSatisfy { $0.decision == .shadow })

        let test = matcher.explain(Self.alert(["alertname": "TestAlert"], source: .grafana))
        #expect(test.matches.map(\.decision) == [.suppressed])
        #expect(test.matches.first?.reason.contains("Grafana TestAlert") == true)
    }

    @Test("near misses name the failing matcher and the value the alert had; other alerts are not near misses")
    func nearMisses() throws {
        let runbooks = [
            try Self.runbook("disk", match: "'alertname=\"Disk\"', 'severity=~\"warning|critical\"', 'team!=\"ops\"'")
        ]
        let matcher = AlertMatcher(runbooks: runbooks)
        let miss = matcher.explain(Self.alert(["alertname": "Disk", "severity": "info", "team": "ops"]))
        #expect(miss.matches.isEmpty)
        #expect(
            miss.nearMisses.first?.failed == [
                #"severity=~"warning|critical" (alert has severity="info")"#, #"team!="ops" (alert has team="ops")"#,
            ])
        #expect(matcher.explain(Self.alert(["alertname": "Other", "severity": "info"])).nearMisses.isEmpty)
        let resolved = matcher.explain(Self.alert(["alertname": "Disk", "severity": "critical"], status: .resolved))
        #expect(resolved.matches.isEmpty)
        #expect(resolved.nearMisses.first?.failed == ["status=firing (alert is resolved)"])
    }

    @Test("every shared fixture explains itself against the shipped runbooks")
    func fixtures() throws {
        let loaded = try RunbookDirectory().load([Fixtures.runbooks.path])
        let matcher = AlertMatcher(runbooks: loaded.runbooks)
        let directory = AlertPayloadDecoderTests.fixtures
        var decisions: [String: [String]] = [:]
        for name in AlertPayloadDecoderTests.fixtureNames {
            for alert in try AlertPayloadDecoder.decode(try Data(contentsOf: directory.appendingPathComponent(name))) {
                let explanation = matcher.explain(alert)
                decisions[name, default: []] += explanation.matches.map { "\($0.runbook):\($0.decision.rawValue)" }
                #expect(!explanation.text.isEmpty)
            }
        }
        #expect(decisions.first { $0.key.hasPrefix("01-") }?.value == ["kube-pod-crash-looping:run"])
        #expect(decisions.first { $0.key.hasPrefix("04-") }?.value == ["kube-deployment-replicas-mismatch:run"])
    }
}

@Suite struct TriggerIndexRegexTests {
    @Test(
        "the index's fast path for word alternations agrees with the anchored regex",
        arguments: ["warning|critical", "warn", "a|", "crit-ical|x_y", "9|10", "warn.*", "(warning|critical)"])
    func agrees(pattern: String) {
        for op in [LabelMatcher.Operator.regexMatch, .regexNoMatch] {
            let matcher = LabelMatcher(name: "severity", op: op, value: pattern)
            let runbook = Runbook(
                id: "r", triggers: [Trigger(matchers: [matcher])],
                steps: [Step(id: "a", body: StepBody(action: .run([Template(literal: "true")])))])
            let index = TriggerIndex([runbook])
            for value in ["warning", "critical", "warn", "", "a", "crit-ical", "x_y", "9", "10", "warningx", "WARNING"]
            {
                let alert = Alert(source: .json, status: .firing, labels: value.isEmpty ? [:] : ["severity": value])
                #expect(
                    index.evaluate(alert).first?.matches == matcher.matches(alert.labels), "\(op) \(pattern) \(value)")
            }
        }
    }
}
