import Foundation
import MedicCore
import Testing

/// The safety policies on a hand-driven clock.
@Suite struct PolicyGateTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

    static func runbook(_ policy: String, trigger: String = "    group_by: [instance]\n") throws -> (Runbook, Trigger) {
        let text = """
            runbook: fix
            triggers:
              - match: ['alertname="Down"']
            \(trigger)policy:
            \(policy)
            steps:
              - id: a
                run: ["true"]
                timeout: 1s
            """
        let source = RunbookSource.check(data: Data(text.utf8), path: "fix.yaml")
        let runbook = try #require(source.runbook, "\(source.diagnostics.map(\.text))")
        return (runbook, runbook.triggers[0])
    }

    static func alert(_ instance: String, startsAt: Double = 0, status: Alert.Status = .firing) -> Alert {
        Alert(
            source: .alertmanager, status: status, labels: ["alertname": "Down", "instance": instance],
            startsAt: at(startsAt))
    }

    @Test("dedup: Alertmanager re-sending the same alert does not start a second run")
    func dedup() throws {
        let (runbook, trigger) = try Self.runbook("  mode: autonomous")
        var gate = PolicyGate()
        let candidate = PolicyGate.Candidate(runbook: runbook, trigger: trigger, alert: Self.alert("db1"))
        #expect(gate.decide(candidate, runID: "r1", now: Self.at(0)) == .run(runID: "r1"))
        #expect(gate.decide(candidate, runID: "r2", now: Self.at(60)) == .suppressed(.duplicate(of: "r1")))
        _ = gate.runFinished("r1", candidate: candidate, outcome: .succeeded, now: Self.at(70))
        #expect(gate.decide(candidate, runID: "r3", now: Self.at(80)) == .suppressed(.duplicate(of: "r1")))
        // The same problem firing anew (new startsAt) is a new alert.
        let again = PolicyGate.Candidate(runbook: runbook, trigger: trigger, alert: Self.alert("db1", startsAt: 500))
        #expect(gate.decide(again, runID: "r4", now: Self.at(600)) == .run(runID: "r4"))
    }

    @Test("cooldown per group_by key: another key is not held back, the window ends on time")
    func cooldown() throws {
        let (runbook, trigger) = try Self.runbook(
            "  mode: autonomous", trigger: "    group_by: [instance]\n    cooldown: 30m\n")
        var gate = PolicyGate()
        func candidate(_ instance: String, _ startsAt: Double) -> PolicyGate.Candidate {
            .init(runbook: runbook, trigger: trigger, alert: Self.alert(instance, startsAt: startsAt))
        }
        #expect(gate.decide(candidate("db1", 0), runID: "r1", now: Self.at(0)) == .run(runID: "r1"))
        #expect(
            gate.decide(candidate("db1", 100), runID: "r2", now: Self.at(100))
                == .suppressed(.cooldown(key: "instance=db1", until: Self.at(1800))))
        #expect(gate.decide(candidate("db2", 100), runID: "r3", now: Self.at(100)) == .run(runID: "r3"))
        #expect(gate.decide(candidate("db1", 1800), runID: "r4", now: Self.at(1800)) == .run(runID: "r4"))
    }

    @Test("concurrency lock: one run per key across runbooks; a second is suppressed, or queued with queue: true")
    func locks() throws {
        let (plain, trigger) = try Self.runbook("  concurrency: 'host:{{ alert.labels.instance }}'")
        let (queueing, _) = try Self.runbook("  concurrency: 'host:{{ alert.labels.instance }}'\n  queue: true")
        var gate = PolicyGate()
        let first = PolicyGate.Candidate(
            runbook: plain, trigger: trigger, alert: Self.alert("db1"), lockKey: "host:db1")
        #expect(gate.decide(first, runID: "r1", now: Self.at(0)) == .run(runID: "r1"))
        let blocked = PolicyGate.Candidate(
            runbook: plain, trigger: trigger, alert: Self.alert("db1", startsAt: 5), lockKey: "host:db1")
        #expect(gate.decide(blocked, runID: "r2", now: Self.at(5)) == .suppressed(.locked(key: "host:db1", by: "r1")))
        let waits = PolicyGate.Candidate(
            runbook: queueing, trigger: trigger, alert: Self.alert("db1", startsAt: 6), lockKey: "host:db1")
        #expect(gate.decide(waits, runID: "r3", now: Self.at(6)) == .queued(runID: "r3", behind: "r1"))
        let aftermath = gate.runFinished("r1", candidate: first, outcome: .succeeded, now: Self.at(10))
        #expect(aftermath.dequeued == "r3")
        #expect(gate.decide(blocked, runID: "r4", now: Self.at(11)) == .suppressed(.locked(key: "host:db1", by: "r3")))
    }

    @Test("max_runs per window per runbook, and the global cap on concurrent runs")
    func caps() throws {
        let (runbook, trigger) = try Self.runbook("  max_runs: { count: 2, per: 1h }")
        var gate = PolicyGate()
        for (index, instance) in ["a", "b"].enumerated() {
            let candidate = PolicyGate.Candidate(runbook: runbook, trigger: trigger, alert: Self.alert(instance))
            #expect(gate.decide(candidate, runID: "r\(index)", now: Self.at(Double(index))) == .run(runID: "r\(index)"))
        }
        let third = PolicyGate.Candidate(runbook: runbook, trigger: trigger, alert: Self.alert("c"))
        #expect(
            gate.decide(third, runID: "r2", now: Self.at(10))
                == .suppressed(.rateCap(count: 2, per: .seconds(3600), nextAllowed: Self.at(3600))))
        #expect(gate.decide(third, runID: "r2", now: Self.at(3600)) == .run(runID: "r2"))

        let (unlimited, unlimitedTrigger) = try Self.runbook("  mode: autonomous")
        var capped = PolicyGate(configuration: .init(maxConcurrentRuns: 1))
        let one = PolicyGate.Candidate(runbook: unlimited, trigger: unlimitedTrigger, alert: Self.alert("a"))
        let two = PolicyGate.Candidate(runbook: unlimited, trigger: unlimitedTrigger, alert: Self.alert("b"))
        #expect(capped.decide(one, runID: "x1", now: Self.at(0)) == .run(runID: "x1"))
        #expect(capped.decide(two, runID: "x2", now: Self.at(1)) == .suppressed(.globalCap(1)))
        _ = capped.runFinished("x1", candidate: one, outcome: .succeeded, now: Self.at(2))
        #expect(capped.decide(two, runID: "x2", now: Self.at(3)) == .run(runID: "x2"))
    }

    @Test("circuit breaker: opens after N failures within the window, escalates once, suppresses, resets")
    func breaker() throws {
        let (runbook, trigger) = try Self.runbook(
            "  circuit_breaker: { failures: 2, within: 1h }\n  escalate: { run: [page-oncall], timeout: 10s }")
        #expect(runbook.policy.escalate?.action == .run([Template(literal: "page-oncall")]))
        var gate = PolicyGate()
        var escalations = 0
        for attempt in 0..<2 {
            let candidate = PolicyGate.Candidate(
                runbook: runbook, trigger: trigger, alert: Self.alert("db1", startsAt: Double(attempt * 100)))
            #expect(
                gate.decide(candidate, runID: "r\(attempt)", now: Self.at(Double(attempt * 100)))
                    == .run(runID: "r\(attempt)"))
            if gate.runFinished(
                "r\(attempt)", candidate: candidate, outcome: .failed, now: Self.at(Double(attempt * 100 + 10))
            ).escalate {
                escalations += 1
            }
        }
        #expect(escalations == 1)
        let next = PolicyGate.Candidate(runbook: runbook, trigger: trigger, alert: Self.alert("db1", startsAt: 300))
        #expect(
            gate.decide(next, runID: "r9", now: Self.at(300))
                == .suppressed(.breakerOpen(key: "instance=db1", until: Self.at(3710))))
        let other = PolicyGate.Candidate(runbook: runbook, trigger: trigger, alert: Self.alert("db2", startsAt: 300))
        #expect(gate.decide(other, runID: "o1", now: Self.at(300)) == .run(runID: "o1"))
        #expect(gate.resetBreaker(runbook: "fix", key: "instance=db1") == 1)
        #expect(gate.decide(next, runID: "r10", now: Self.at(301)) == .run(runID: "r10"))
    }

    @Test("shadow mode, per runbook and global: decided and remembered, never holds a lock")
    func shadow() throws {
        let (quiet, trigger) = try Self.runbook("  mode: shadow\n  concurrency: 'host:{{ alert.labels.instance }}'")
        var gate = PolicyGate()
        let candidate = PolicyGate.Candidate(
            runbook: quiet, trigger: trigger, alert: Self.alert("db1"), lockKey: "host:db1")
        #expect(gate.decide(candidate, runID: "s1", now: Self.at(0)) == .shadow(runID: "s1"))
        let (live, liveTrigger) = try Self.runbook("  concurrency: 'host:{{ alert.labels.instance }}'")
        let real = PolicyGate.Candidate(
            runbook: live, trigger: liveTrigger, alert: Self.alert("db1", startsAt: 1), lockKey: "host:db1")
        #expect(gate.decide(real, runID: "r1", now: Self.at(1)) == .run(runID: "r1"))
        var global = PolicyGate(configuration: .init(globalShadow: true))
        #expect(global.decide(real, runID: "g1", now: Self.at(1)) == .shadow(runID: "g1"))
    }

    @Test("a resolved notification forgets the alert's dedup entry and names the last run started for it")
    func resolvedForgetsDedup() throws {
        let (runbook, trigger) = try Self.runbook("  mode: autonomous")
        var gate = PolicyGate()
        let candidate = PolicyGate.Candidate(runbook: runbook, trigger: trigger, alert: Self.alert("db1"))
        #expect(gate.decide(candidate, runID: "r1", now: Self.at(0)) == .run(runID: "r1"))
        _ = gate.runFinished("r1", candidate: candidate, outcome: .succeeded, now: Self.at(5))
        #expect(gate.decide(candidate, runID: "r2", now: Self.at(10)) == .suppressed(.duplicate(of: "r1")))
        #expect(gate.resolved(Self.alert("db1", status: .resolved)) == "r1")
        #expect(gate.decide(candidate, runID: "r3", now: Self.at(20)) == .run(runID: "r3"))
    }
}

@Suite struct PolicyGateReplayTests {
    static func records(_ events: [AuditEvent]) -> [AuditRecord] {
        events.enumerated().map { index, event in
            AuditRecord(
                seq: Int64(index + 1), time: RFC3339.format(event.time), kind: event.kind.rawValue,
                runID: event.runID.isEmpty ? nil : event.runID, body: JSONValue.object(event.body).compact,
                prevHash: "",
                hash: "")
        }
    }

    @Test("a gate rebuilt from its audit records keeps cooldowns, locks, dedup and open breakers")
    func replay() throws {
        let (runbook, trigger) = try PolicyGateTests.runbook(
            "  concurrency: 'host:{{ alert.labels.instance }}'\n  circuit_breaker: { failures: 1, within: 1h }",
            trigger: "    group_by: [instance]\n    cooldown: 10m\n")
        var gate = PolicyGate()
        var events: [AuditEvent] = []
        func decide(_ instance: String, _ startsAt: Double, _ runID: String, _ at: Double) -> PolicyGate.Decision {
            let candidate = PolicyGate.Candidate(
                runbook: runbook, trigger: trigger, alert: PolicyGateTests.alert(instance, startsAt: startsAt),
                lockKey: "host:\(instance)")
            let decision = gate.decide(candidate, runID: runID, now: PolicyGateTests.at(at))
            events.append(PolicyGate.record(decision, for: candidate, now: PolicyGateTests.at(at)))
            return decision
        }
        #expect(decide("db1", 0, "r1", 0) == .run(runID: "r1"))  // will fail: opens the breaker for db1
        events.append(
            AuditEvent(time: PolicyGateTests.at(5), kind: .runFinished, runID: "r1", body: ["outcome": "failed"]))
        _ = gate.runFinished(
            "r1",
            candidate: .init(
                runbook: runbook, trigger: trigger, alert: PolicyGateTests.alert("db1"), lockKey: "host:db1"),
            outcome: .failed, now: PolicyGateTests.at(5))
        #expect(decide("db2", 0, "r2", 10) == .run(runID: "r2"))  // still running: holds host:db2
        #expect(decide("db3", 0, "r3", 20) == .run(runID: "r3"))
        events.append(
            AuditEvent(time: PolicyGateTests.at(30), kind: .runFinished, runID: "r3", body: ["outcome": "succeeded"]))

        var rebuilt = PolicyGate()
        rebuilt.replay(Self.records(events), runbooks: [runbook])
        func check(_ instance: String, _ startsAt: Double, at: Double) -> PolicyGate.Decision {
            rebuilt.decide(
                .init(
                    runbook: runbook, trigger: trigger, alert: PolicyGateTests.alert(instance, startsAt: startsAt),
                    lockKey: "host:\(instance)"),
                runID: "n-\(instance)", now: PolicyGateTests.at(at))
        }
        #expect(
            check("db1", 100, at: 100)
                == .suppressed(.breakerOpen(key: "instance=db1", until: PolicyGateTests.at(3605))))
        #expect(check("db2", 0, at: 900) == .suppressed(.duplicate(of: "r2")))
        #expect(check("db2", 800, at: 900) == .suppressed(.locked(key: "host:db2", by: "r2")))
        #expect(
            check("db3", 300, at: 300) == .suppressed(.cooldown(key: "instance=db3", until: PolicyGateTests.at(620))))

        // A reset record closes the breaker on replay too.
        events.append(
            PolicyGate.breakerRecord(opened: false, runbook: "fix", key: "instance=db1", now: PolicyGateTests.at(200)))
        var reset = PolicyGate()
        reset.replay(Self.records(events), runbooks: [runbook])
        #expect(
            reset.decide(
                .init(
                    runbook: runbook, trigger: trigger, alert: PolicyGateTests.alert("db1", startsAt: 300),
                    lockKey: "host:db1"),
                runID: "x", now: PolicyGateTests.at(1000)) == .run(runID: "x"))
    }
}

@Suite struct PolicyGateForgettingTests {
    @Test("an alert without startsAt is deduplicated for 5 minutes, or for the dedup window where that is shorter")
    func unstampedWindowFollowsTheDedupWindow() {
        #expect(PolicyGate.Configuration().unstampedDedupWindow == .seconds(300))
        #expect(PolicyGate.Configuration(dedupWindow: .seconds(60)).unstampedDedupWindow == .seconds(60))
        #expect(
            PolicyGate.Configuration(dedupWindow: .seconds(60), unstampedDedupWindow: .seconds(600))
                .unstampedDedupWindow == .seconds(600))
    }

    @Test("a long-firing alert stays deduplicated across a restart that replays only the last day")
    func duplicatesSurviveTheCutoff() throws {
        let (runbook, trigger) = try PolicyGateTests.runbook("  mode: autonomous")
        var gate = PolicyGate()
        let candidate = PolicyGate.Candidate(runbook: runbook, trigger: trigger, alert: PolicyGateTests.alert("db1"))
        var events: [AuditEvent] = []
        for hour in stride(from: 0, through: 28, by: 4) {
            let now = PolicyGateTests.at(Double(hour) * 3600)
            let decision = gate.decide(candidate, runID: "r\(hour)", now: now)
            events.append(PolicyGate.record(decision, for: candidate, now: now))
            if hour == 0 {
                events.append(AuditEvent(time: now, kind: .runFinished, runID: "r0", body: ["outcome": "succeeded"]))
                _ = gate.runFinished("r0", candidate: candidate, outcome: .succeeded, now: now)
            }
        }
        let now = PolicyGateTests.at(30 * 3600)
        var rebuilt = PolicyGate()
        let cutoff = rebuilt.replayCutoff(now: now, runbooks: [runbook])
        let recent = PolicyGateReplayTests.records(events).filter { RFC3339.parse($0.time)! >= cutoff }
        #expect(!recent.contains { $0.runID == "r0" }, "the run itself lies before the cutoff")
        rebuilt.replay(recent, runbooks: [runbook], now: now)
        #expect(rebuilt.decide(candidate, runID: "again", now: now) == .suppressed(.duplicate(of: "r0")))
    }
}

@Suite struct PolicyGateRestartTests {
    static let t0 = PolicyGateTests.at(0)

    @Test("an open breaker survives a restart whose replay no longer reaches the failures that opened it")
    func openBreakerAcrossTheCutoff() throws {
        let (runbook, trigger) = try PolicyGateTests.runbook("  circuit_breaker: { failures: 3, within: 1h }")
        let configuration = PolicyGate.Configuration(dedupWindow: .seconds(3600))
        var gate = PolicyGate(configuration: configuration)
        var events: [AuditEvent] = []
        for (index, minute) in [0.0, 20, 50].enumerated() {
            let now = PolicyGateTests.at(minute * 60)
            let candidate = PolicyGate.Candidate(
                runbook: runbook, trigger: trigger, alert: PolicyGateTests.alert("db1", startsAt: minute))
            let decision = gate.decide(candidate, runID: "r\(index)", now: now)
            #expect(decision == .run(runID: "r\(index)"))
            events.append(PolicyGate.record(decision, for: candidate, now: now))
            events.append(AuditEvent(time: now, kind: .runFinished, runID: "r\(index)", body: ["outcome": "failed"]))
            if gate.runFinished("r\(index)", candidate: candidate, outcome: .failed, now: now).escalate {
                events.append(PolicyGate.breakerRecord(opened: true, runbook: "fix", key: "instance=db1", now: now))
            }
        }
        let restart = PolicyGateTests.at(100 * 60)
        var rebuilt = PolicyGate(configuration: configuration)
        let cutoff = rebuilt.replayCutoff(now: restart, runbooks: [runbook])
        let recent = PolicyGateReplayTests.records(events).filter { RFC3339.parse($0.time)! >= cutoff }
        #expect(recent.filter { $0.auditKind == .runFinished }.count == 1, "only the last failure is replayed")
        rebuilt.replay(recent, runbooks: [runbook], now: restart)
        let next = PolicyGate.Candidate(
            runbook: runbook, trigger: trigger, alert: PolicyGateTests.alert("db1", startsAt: 100))
        #expect(
            rebuilt.decide(next, runID: "x", now: restart)
                == .suppressed(.breakerOpen(key: "instance=db1", until: PolicyGateTests.at(110 * 60))))
    }

    @Test("a log written before duplicates named their run still keeps a long-firing alert deduplicated")
    func oldDuplicateRecords() throws {
        let (runbook, trigger) = try PolicyGateTests.runbook("  mode: autonomous")
        let candidate = PolicyGate.Candidate(runbook: runbook, trigger: trigger, alert: PolicyGateTests.alert("db1"))
        // As the previous release wrote it: reason and message, no duplicate_of.
        let old = AuditRecord(
            seq: 1, time: RFC3339.format(PolicyGateTests.at(20 * 3600)), kind: "decision.suppressed", runID: nil,
            body: JSONValue.object([
                "runbook": "fix", "trigger": 0, "group_key": "instance=db1", "lock_key": .null,
                "fingerprint": .string(candidate.alert.fingerprint),
                "starts_at": .string(RFC3339.format(PolicyGateTests.at(0))), "alertname": "Down",
                "reason": "dedup", "message": "duplicate: the same alert (fingerprint and startsAt) already led to run r0",
            ]).compact, prevHash: "", hash: "")
        var gate = PolicyGate()
        gate.replay([old], runbooks: [runbook], now: PolicyGateTests.at(30 * 3600))
        guard case .suppressed(.duplicate) = gate.decide(candidate, runID: "again", now: PolicyGateTests.at(30 * 3600))
        else {
            Issue.record("the alert ran again after the upgrade")
            return
        }
    }

    @Test("a breaker that opened, expired and opened again is open after a restart that replays both")
    func reopenedBreaker() throws {
        let (runbook, _) = try PolicyGateTests.runbook("  circuit_breaker: { failures: 1, within: 10m }")
        let candidate = PolicyGate.Candidate(
            runbook: runbook, trigger: runbook.triggers[0], alert: PolicyGateTests.alert("db1", startsAt: 99))
        var events: [AuditEvent] = []
        for (index, minute) in [0.0, 30].enumerated() {
            let at = PolicyGateTests.at(minute * 60)
            let alert = PolicyGateTests.alert("db1", startsAt: minute)
            let decided = PolicyGate.Candidate(runbook: runbook, trigger: runbook.triggers[0], alert: alert)
            events.append(PolicyGate.record(.run(runID: "r\(index)"), for: decided, now: at))
            events.append(AuditEvent(time: at, kind: .runFinished, runID: "r\(index)", body: ["outcome": "failed"]))
            events.append(PolicyGate.breakerRecord(opened: true, runbook: "fix", key: "instance=db1", now: at))
        }
        var rebuilt = PolicyGate()
        rebuilt.replay(PolicyGateReplayTests.records(events), runbooks: [runbook], now: PolicyGateTests.at(35 * 60))
        #expect(
            rebuilt.decide(candidate, runID: "x", now: PolicyGateTests.at(35 * 60))
                == .suppressed(.breakerOpen(key: "instance=db1", until: PolicyGateTests.at(40 * 60))))
    }

    @Test("a duplicate of a run only an old record names says so, and names no run")
    func duplicateOfAnEarlierRun() throws {
        let (runbook, trigger) = try PolicyGateTests.runbook("  mode: autonomous")
        let candidate = PolicyGate.Candidate(runbook: runbook, trigger: trigger, alert: PolicyGateTests.alert("db1"))
        let old = AuditRecord(
            seq: 1, time: RFC3339.format(PolicyGateTests.at(0)), kind: "decision.suppressed", runID: nil,
            body: JSONValue.object([
                "runbook": "fix", "fingerprint": .string(candidate.alert.fingerprint),
                "starts_at": .string(RFC3339.format(PolicyGateTests.at(0))), "reason": "dedup",
            ]).compact, prevHash: "", hash: "")
        var gate = PolicyGate()
        gate.replay([old], runbooks: [runbook], now: PolicyGateTests.at(60))
        let decision = gate.decide(candidate, runID: "n", now: PolicyGateTests.at(60))
        #expect(decision == .suppressed(.duplicate(of: nil)))
        let record = PolicyGate.record(decision, for: candidate, now: PolicyGateTests.at(60))
        #expect(record.body["duplicate_of"] == nil)
        #expect(record.body["message"]?.stringValue?.hasSuffix("already led to an earlier run") == true)
        #expect(gate.resolved(PolicyGateTests.alert("db1", status: .resolved)) == nil)
    }
}
