import Foundation
import MedicCore
import Testing

/// The engine's decisions as values, on a hand-driven clock: queue bounds, phase transitions that happen once,
/// and memory that forgets what no window reads.
@Suite struct DeciderTests {
    static func at(_ seconds: Double) -> Date { PolicyGateTests.at(seconds) }

    /// A decider with `runbook` and a counter for run ids.
    struct Harness {
        var decider: Decider
        let matcher: AlertMatcher
        var nextID = 0

        init(_ runbook: Runbook, configuration: Decider.Configuration) {
            decider = Decider(configuration: configuration, runbooks: [runbook])
            matcher = AlertMatcher(runbooks: [runbook])
        }

        mutating func receive(_ alert: Alert, at seconds: Double) -> Decider.Transition<Decider.AlertOutcome> {
            var id = nextID
            defer { nextID = id }
            return decider.receive(
                alert, payloadDigest: "d", matcher: matcher, environment: [:], now: DeciderTests.at(seconds),
                newRunID: {
                    id += 1
                    return "r\(id)"
                })
        }
    }

    @Test("at most max_queued_runs wait for a lock, in every round: the bound does not loosen with use")
    func queueBoundHolds() throws {
        let (runbook, _) = try PolicyGateTests.runbook("  concurrency: 'one-lock'\n  queue: true")
        var harness = Harness(runbook, configuration: .init(maxConcurrentRuns: 4, maxQueuedRuns: 5))
        var clock = 0.0
        for round in 0..<20 {
            var decisions: [String] = []
            var codes: [String] = []
            var started: [String] = []
            for index in 0..<12 {
                clock += 1
                let transition = harness.receive(PolicyGateTests.alert("r\(round)-h\(index)"), at: clock)
                decisions += transition.answer.decisions.map(\.decision)
                codes += transition.answer.decisions.compactMap(\.reasonCode)
                started += transition.starts.map(\.runID)
            }
            #expect(decisions.filter { $0 == "run" }.count == 1, "round \(round)")
            #expect(decisions.filter { $0 == "queued" }.count == 5, "round \(round)")
            #expect(codes == Array(repeating: "queue_full", count: 6), "round \(round)")
            #expect(harness.decider.waitingCount == 5)
            // Each run that ends hands the lock to the next in line, oldest first.
            var running = started
            var order: [String] = []
            while let runID = running.popLast() {
                order.append(runID)
                clock += 1
                let next = harness.decider.finished(runID, outcome: .succeeded, now: Self.at(clock))
                #expect(next.starts.count <= 1)
                running += next.starts.map(\.runID)
                #expect(harness.decider.waitingCount <= 5)
            }
            #expect(order.count == 6)
            #expect(order == order.sorted { Int($0.dropFirst())! < Int($1.dropFirst())! })
        }
        #expect(harness.decider.runs.isEmpty)
        #expect(harness.decider.runningCount == 0)
        #expect(harness.decider.gate.activeRuns == 0)
        #expect(harness.decider.gate.heldLocks == 0)
    }

    @Test("approve and cancel change a waiting run once: a second approve, an approve after cancel, a cancel after the end")
    func transitionsHappenOnce() throws {
        let (runbook, _) = try PolicyGateTests.runbook("  mode: approval\n  concurrency: 'host:{{ alert.labels.instance }}'")
        var harness = Harness(runbook, configuration: .init(maxConcurrentRuns: 1, maxQueuedRuns: 1))
        let first = harness.receive(PolicyGateTests.alert("db1"), at: 0)
        let second = harness.receive(PolicyGateTests.alert("db2"), at: 1)
        let third = harness.receive(PolicyGateTests.alert("db3"), at: 2)
        let ids = [first, second, third].compactMap { $0.answer.decisions.first?.runID }
        #expect(ids.count == 3)
        #expect([first, second, third].allSatisfy { $0.starts.isEmpty })

        let approved = harness.decider.approve(ids[0], by: "alice", now: Self.at(3))
        #expect(approved.answer == .approved)
        #expect(approved.starts.map(\.runID) == [ids[0]])
        #expect(approved.records.map(\.kind) == [.runApproved])
        #expect(harness.decider.approve(ids[0], by: "alice", now: Self.at(4)).answer == .notWaiting)

        // The only slot is busy: the second approval waits for it; the third finds the waiting room full.
        let waits = harness.decider.approve(ids[1], by: "bob", now: Self.at(5))
        #expect(waits.answer == .approved)
        #expect(waits.starts.isEmpty)
        #expect(harness.decider.phase(of: ids[1]) == .ready)
        let refused = harness.decider.approve(ids[2], by: "bob", now: Self.at(6))
        #expect(refused.answer == .queueFull(capacity: 1))
        #expect(refused.records.isEmpty)
        #expect(harness.decider.phase(of: ids[2]) == .awaitingApproval)

        // Cancelling the run that waits for a slot ends it here, once; it never starts later.
        let cancelled = harness.decider.cancel(ids[1], by: "carol", now: Self.at(7))
        #expect(cancelled.answer == .cancelledWaiting)
        #expect(cancelled.records.map(\.kind) == [.runCancelRequested, .runFinished])
        #expect(harness.decider.cancel(ids[1], by: "carol", now: Self.at(8)).answer == .notFound)
        #expect(harness.decider.approve(ids[1], by: "bob", now: Self.at(8)).answer == .notWaiting)

        // A running run is stopped by its executor, which records its end; cancel says so and records nothing else.
        let stop = harness.decider.cancel(ids[0], by: "carol", now: Self.at(9))
        #expect(stop.answer == .stopRunning)
        #expect(stop.stops == [ids[0]])
        #expect(stop.records.map(\.kind) == [.runCancelRequested])
        let ended = harness.decider.finished(ids[0], outcome: .cancelled, now: Self.at(10))
        #expect(ended.starts.isEmpty)
        #expect(harness.decider.cancel(ids[0], by: "carol", now: Self.at(11)).answer == .notFound)

        // The resolved alert ends the last waiting run; every lock and slot is free.
        let resolved = harness.receive(PolicyGateTests.alert("db3", status: .resolved), at: 12)
        #expect(resolved.records.contains { $0.kind == .runFinished && $0.runID == ids[2] })
        #expect(harness.decider.runs.isEmpty)
        #expect(harness.decider.gate.activeRuns == 0)
        #expect(harness.decider.gate.heldLocks == 0)
    }

    @Test("a cancelled run holding a lock hands it to the next in line, which starts")
    func cancelHandsOverTheLock() throws {
        let (runbook, _) = try PolicyGateTests.runbook("  mode: approval\n  concurrency: 'one'\n  queue: true")
        var harness = Harness(runbook, configuration: .init())
        let holder = try #require(harness.receive(PolicyGateTests.alert("a"), at: 0).answer.decisions.first?.runID)
        let queued = harness.receive(PolicyGateTests.alert("b"), at: 1)
        #expect(queued.answer.decisions.first?.decision == "queued")
        let next = try #require(queued.answer.decisions.first?.runID)
        _ = harness.decider.cancel(holder, by: "x", now: Self.at(2))
        // Its runbook asks for approval: the lock passes, and the run now waits for its approval.
        #expect(harness.decider.phase(of: next) == .awaitingApproval)
        #expect(harness.decider.approve(next, by: "y", now: Self.at(3)).starts.map(\.runID) == [next])
    }

    @Test("memory: 5,000 distinct alerts leave only what their windows can still read")
    func forgetsOutsideWindows() throws {
        let (runbook, _) = try PolicyGateTests.runbook(
            "  max_runs: { count: 100000, per: 10m }\n  circuit_breaker: { failures: 3, within: 10m }",
            trigger: "    group_by: [instance]\n    cooldown: 5m\n")
        var harness = Harness(
            runbook, configuration: .init(dedupWindow: .seconds(600), unstampedDedupWindow: .seconds(300)))
        var peak = 0
        for index in 0..<5_000 {
            let time = Double(index)
            let transition = harness.receive(PolicyGateTests.alert("host-\(index)", startsAt: time), at: time)
            for start in transition.starts {
                _ = harness.decider.finished(start.runID, outcome: index % 2 == 0 ? .failed : .succeeded, now: Self.at(time))
            }
            peak = max(peak, harness.decider.gate.footprint)
        }
        // About 10 minutes' worth of alerts (dedup, cooldown, rate window, failures), plus one sweep interval.
        #expect(peak < 6 * 700)
        _ = harness.receive(PolicyGateTests.alert("late", startsAt: 90_000), at: 90_000)
        #expect(harness.decider.gate.footprint < 10)
    }

    @Test("an alert without startsAt is deduplicated only within its window, not forever")
    func unstampedDedupEnds() throws {
        let (runbook, _) = try PolicyGateTests.runbook("  mode: autonomous")
        var harness = Harness(runbook, configuration: .init())
        let plain = Alert(source: .json, status: .firing, labels: ["alertname": "Down", "instance": "db1"])
        let first = harness.receive(plain, at: 0)
        let runID = try #require(first.starts.first?.runID)
        _ = harness.decider.finished(runID, outcome: .succeeded, now: Self.at(10))
        #expect(harness.receive(plain, at: 60).answer.decisions.first?.reasonCode == "dedup")
        #expect(harness.receive(plain, at: 301).answer.decisions.first?.decision == "run")
        // One with a start time stays deduplicated while Alertmanager keeps re-sending it.
        let stamped = PolicyGateTests.alert("db2", startsAt: 0)
        #expect(harness.receive(stamped, at: 0).answer.decisions.first?.decision == "run")
        for hour in 1...30 {
            #expect(harness.receive(stamped, at: Double(hour) * 3600).answer.decisions.first?.reasonCode == "dedup")
        }
    }
}
