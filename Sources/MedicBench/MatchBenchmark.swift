import Foundation
import MedicCore
import MedicICUBaseline

/// `medic bench match`: alerts matched per second with many runbooks loaded, against the path Medic had
/// before its own regex engine (ICU regexes, in Benchmarks/ICUBaseline) and against scanning every trigger.
/// `--hostile`: how long one decision takes for patterns that backtrack catastrophically elsewhere,
/// against 100 KiB values built to trigger it.
public struct MatchBenchmark: Sendable {
    /// Runbooks to load.
    public var runbooks: Int
    /// Alerts to match.
    public var alerts: Int
    /// One JSON object instead of a table.
    public var json: Bool

    public init(runbooks: Int, alerts: Int, json: Bool) {
        self.runbooks = runbooks
        self.alerts = alerts
        self.json = json
    }

    /// Runbooks whose triggers use `matchers(index)`.
    static func runbooks(_ count: Int, _ matchers: (Int) -> [LabelMatcher]) -> [Runbook] {
        (0..<count).map { index in
            Runbook(
                id: "rb-\(index)", triggers: [Trigger(matchers: matchers(index))],
                steps: [Step(id: "a", body: StepBody(action: .run([Template(literal: "true")])))])
        }
    }

    /// The workloads: the plain one measured since the first release, and one where every trigger runs
    /// real regexes (prefixes, classes, a negative match).
    static let workloads: [(name: String, matchers: @Sendable (Int) -> [LabelMatcher])] = [
        (
            "word alternation",
            { index in
                [
                    LabelMatcher(name: "alertname", op: .equal, value: "Alert\(index % 2_000)"),
                    LabelMatcher(name: "severity", op: .regexMatch, value: "warning|critical"),
                    LabelMatcher(name: "team", op: .notEqual, value: "team-\(index % 50)"),
                ]
            }
        ),
        (
            "regexes",
            { index in
                [
                    LabelMatcher(name: "alertname", op: .equal, value: "Alert\(index % 2_000)"),
                    LabelMatcher(name: "severity", op: .regexMatch, value: "warn.*|crit.*"),
                    LabelMatcher(name: "instance", op: .regexMatch, value: "host-[0-9]+(:[0-9]+)?"),
                    LabelMatcher(name: "job", op: .regexNoMatch, value: ".*-canary"),
                ]
            }
        ),
    ]

    static let samples: [Alert] = (0..<1_000).map { i in
        Alert(
            source: .alertmanager, status: .firing,
            labels: [
                "alertname": "Alert\(i * 7 % 2_500)", "severity": i % 3 == 0 ? "warning" : "critical",
                "team": "team-\(i % 60)", "instance": "host-\(i):9100", "job": i % 5 == 0 ? "node-canary" : "node",
            ])
    }

    public func run() throws {
        var rows: [(name: String, indexed: Double, icu: Double, scan: Double)] = []
        for workload in Self.workloads {
            let loaded = Self.runbooks(runbooks, workload.matchers)
            let index = TriggerIndex(loaded)
            let baseline = ICUMatcherBaseline(loaded)
            var matched = 0
            let indexed = try BenchClock.time {
                for i in 0..<alerts { matched += index.evaluate(Self.samples[i % 1_000]).filter(\.matches).count }
            }
            var baselineMatched = 0
            let icu = try BenchClock.time {
                for i in 0..<alerts { baselineMatched += baseline.matchCount(Self.samples[i % 1_000]) }
            }
            guard matched == baselineMatched else {
                throw BenchFailure("\(workload.name): \(matched) matches, the ICU baseline found \(baselineMatched)")
            }
            let scanAlerts = max(1, alerts / 100)
            let scan =
                try BenchClock.time {
                    for i in 0..<scanAlerts {
                        let labels = Self.samples[i % 1_000].labels
                        _ = loaded.count { $0.triggers[0].matchers.allSatisfy { $0.matches(labels) } }
                    }
                } * Double(alerts) / Double(scanAlerts)
            rows.append((workload.name, Double(alerts) / indexed, Double(alerts) / icu, Double(alerts) / scan))
        }
        if json {
            let fields = rows.map { row in
                let key = row.name.replacingOccurrences(of: " ", with: "_")
                return #""\#(key)":{"alerts_per_second":\#(row.indexed),"icu_alerts_per_second":\#(row.icu),"scan_alerts_per_second":\#(row.scan)}"#
            }
            // The first workload's figures also under the names earlier releases printed.
            print(
                #"{"benchmark":"match","runbooks":\#(runbooks),"alerts":\#(alerts),"indexed_alerts_per_second":\#(rows[0].indexed),"scan_alerts_per_second":\#(rows[0].scan),\#(fields.joined(separator: ","))}"#
            )
            return
        }
        print("figure                                              medic        baseline: ICU path   ratio   full scan")
        for row in rows {
            print(
                String(
                    format: "alerts/s, %5d runbooks, %@ %10.0f/s   %10.0f/s        %5.2fx   %9.0f/s",
                    runbooks, row.name.padding(toLength: 17, withPad: " ", startingAt: 0), row.indexed, row.icu,
                    row.indexed / row.icu, row.scan))
        }
        print("(targets: at least 240,000 alerts/s on the CI machine; the goal is 1,000,000)")
    }
}

/// `medic bench match --hostile`: one decision on a 100 KiB value built to make a backtracking engine
/// explode, per pattern; the ICU baseline runs the same pattern on a 24-byte value (it grows
/// exponentially with the length, so 100 KiB would never finish).
public struct HostileMatchBenchmark: Sendable {
    public var bytes: Int
    public var json: Bool

    public init(bytes: Int = 102_400, json: Bool) {
        self.bytes = bytes
        self.json = json
    }

    static let cases: [(pattern: String, unit: String, tail: String)] = [
        ("(a+)+$", "a", "b"),
        ("(.|\\s)*y|.*x", " ", ""),
        ("(x+x+)+y", "x", ""),
        ("(\\w+\\s?)*$", "word ", "!"),
        ("(a|aa)*c", "a", ""),
        ("((a*)*b)*c", "a", "b"),
    ]

    /// One decision each on a random a/b value: `[ab]{30}` after `[ab]*` needs 2^31 DFA states.
    static func unfitting(bytes: Int) throws -> [(String, Double)] {
        var seed: UInt64 = 7
        let value = String(
            (0..<bytes).map { _ -> Character in
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                return seed >> 33 & 1 == 0 ? "a" : "b"
            })
        return try ["(?:[ab]*a[ab]{30})+", "(?:a|b)*a(?:a|b){12}"].map { pattern in
            let regex = try GoRegex(pattern)
            return (pattern, try BenchClock.time { _ = regex.wholeMatch(value) })
        }
    }

    public func run() throws {
        var rows: [(pattern: String, cold: Double, warm: Double, icu: Double)] = []
        for test in Self.cases {
            let value = String(repeating: test.unit, count: bytes / test.unit.utf8.count) + test.tail
            // A fresh regex: the first decision also builds the DFA states it needs.
            let regex = try GoRegex(test.pattern)
            var answer = false
            let cold = try BenchClock.time { answer = regex.wholeMatch(value) }
            var warm: [Double] = []
            for _ in 0..<9 { warm.append(try BenchClock.time { _ = regex.wholeMatch(value) }) }
            let short = String(repeating: test.unit, count: max(1, 24 / test.unit.utf8.count)) + test.tail
            var icuAnswer = false
            let icu = try BenchClock.time { icuAnswer = ICUMatcherBaseline.wholeMatch(test.pattern, short) }
            guard answer == regex.wholeMatch(value), icuAnswer == (try GoRegex(test.pattern)).wholeMatch(short) else {
                throw BenchFailure("\(test.pattern): answers disagree")
            }
            rows.append((test.pattern, cold, BenchClock.median(warm), icu))
        }
        if json {
            let fields = rows.map { row in
                #"{"pattern":"\#(row.pattern.replacingOccurrences(of: "\\", with: "\\\\"))","cold_ms":\#(row.cold * 1e3),"warm_ms":\#(row.warm * 1e3),"icu_24_bytes_ms":\#(row.icu * 1e3)}"#
            }
            let unfitting = try Self.unfitting(bytes: bytes).map { pattern, time in
                #"{"pattern":"\#(pattern)","ms":\#(time * 1e3)}"#
            }
            print(
                #"{"benchmark":"match-hostile","bytes":\#(bytes),"rows":[\#(fields.joined(separator: ","))],"unfitting":[\#(unfitting.joined(separator: ","))]}"#
            )
            return
        }
        print("pattern               medic, \(bytes / 1024) KiB value: first   again     ICU, 24-byte value")
        for row in rows {
            print(
                String(
                    format: "%@ %17.3f ms   %7.3f ms   %9.3f ms",
                    row.pattern.padding(toLength: 21, withPad: " ", startingAt: 0), row.cold * 1e3,
                    row.warm * 1e3, row.icu * 1e3))
        }
        let worst = rows.map { max($0.cold, $0.warm) }.max() ?? 0
        print(String(format: "worst decision: %.3f ms (target: under 10 ms)", worst * 1e3))
        print("")
        print("patterns whose DFA cannot fit (a count after an unbounded repetition): linear, at NFA speed")
        for (pattern, time) in try Self.unfitting(bytes: bytes) {
            print(String(format: "%@ %17.3f ms", pattern.padding(toLength: 27, withPad: " ", startingAt: 0), time * 1e3))
        }
    }
}
