/// Wall-clock helpers shared by the benchmarks: a timed body, seconds of a `Duration`, a median.
enum BenchClock {
    static func time(_ body: () throws -> Void) throws -> Double {
        let start = ContinuousClock.now
        try body()
        return seconds(ContinuousClock.now - start)
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted[sorted.count / 2]
    }

    /// One row of a per-step table: `label`, then milliseconds per step for `value` and `baseline` (seconds
    /// for `count` steps), and their ratio.
    static func perStepRow(_ label: String, _ value: Double, _ baseline: Double, count: Int) -> String {
        String(
            format: "%@ %7.3fms   %7.3fms   %.2fx", label.padding(toLength: 44, withPad: " ", startingAt: 0),
            value * 1000 / Double(count), baseline * 1000 / Double(count), value / baseline)
    }
}
