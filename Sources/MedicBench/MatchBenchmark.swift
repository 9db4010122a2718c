import Foundation
import MedicCore

/// `medic bench match`: alerts matched per second with many runbooks loaded, against scanning every trigger.
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

    public func run() throws {
        let loaded: [Runbook] = (0..<runbooks).map { index in
            Runbook(
                id: "rb-\(index)",
                triggers: [
                    Trigger(matchers: [
                        LabelMatcher(name: "alertname", op: .equal, value: "Alert\(index % 2_000)"),
                        LabelMatcher(name: "severity", op: .regexMatch, value: "warning|critical"),
                        LabelMatcher(name: "team", op: .notEqual, value: "team-\(index % 50)"),
                    ])
                ],
                steps: [Step(id: "a", body: StepBody(action: .run([Template(literal: "true")])))])
        }
        let index = TriggerIndex(loaded)
        let samples = (0..<1_000).map { i in
            Alert(
                source: .alertmanager, status: .firing,
                labels: [
                    "alertname": "Alert\(i * 7 % 2_500)", "severity": "critical", "team": "team-\(i % 60)",
                    "instance": "host-\(i)",
                ])
        }
        var matched = 0
        var start = ContinuousClock.now
        for i in 0..<alerts {
            matched += index.evaluate(samples[i % samples.count]).filter(\.matches).count
        }
        let indexed = BenchClock.seconds(ContinuousClock.now - start)
        let scanAlerts = max(1, alerts / 100)
        var scanned = 0
        start = ContinuousClock.now
        for i in 0..<scanAlerts {
            let labels = samples[i % samples.count].labels
            scanned += loaded.filter { $0.triggers[0].matchers.allSatisfy { $0.matches(labels) } }.count
        }
        let scan = BenchClock.seconds(ContinuousClock.now - start) * Double(alerts) / Double(scanAlerts)
        if json {
            print(
                #"{"benchmark":"match","runbooks":\#(runbooks),"alerts":\#(alerts),"indexed_alerts_per_second":\#(Double(alerts) / indexed),"scan_alerts_per_second":\#(Double(alerts) / scan)}"#
            )
            return
        }
        print("figure                                        medic          baseline (scan)   ratio")
        print(
            String(
                format: "alerts matched per second, %5d runbooks   %9.0f/s   %9.0f/s        %.0fx faster", runbooks,
                Double(alerts) / indexed, Double(alerts) / scan, scan / indexed))
        print(
            String(
                format: "time per alert                               %8.2f µs   (target: over 100,000 alerts/s)",
                indexed / Double(alerts) * 1e6))
        _ = (matched, scanned)
    }
}
