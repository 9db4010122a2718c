import Foundation
import MedicCore
import MedicTestSupport
import Testing

/// Several real `medic serve` replicas sharing one PostgreSQL store (the test process's private cluster).
///
/// A dozen servers and two clusters of their own load both cores for a minute: run beside the other suites,
/// they starved those suites' timing (a step's timeout, a remote step over sshd). So they run on their own,
/// after `swift test`, in `.ci/run`: `MEDIC_REPLICA_TESTS=1 swift test --skip-build --filter ReplicaTests`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["MEDIC_REPLICA_TESTS"] == "1", "set MEDIC_REPLICA_TESTS=1 (.ci/run runs them on their own)"))
struct ReplicaTests {
    let directory: URL
    let runbooks: URL

    init() throws {
        (directory, runbooks) = try ServeCommandTests.scratch()
    }

    func replicas(_ count: Int, audit url: String, extra: [String] = []) async throws -> [ServeCommandTests.Server] {
        var servers: [ServeCommandTests.Server] = []
        for index in 1...count {
            servers.append(
                try await ServeCommandTests.Server(
                    ["--runbooks", runbooks.path, "--audit", url, "--replica-id", "replica-\(index)"] + extra,
                    in: directory))
        }
        return servers
    }

    /// The records of one kind, through `medic audit export` (run off the async runtime's threads).
    func records(_ url: String, kind: String) async throws -> [[String: Any]] {
        let export = try await medic(["audit", "export", "--audit", url, "--kind", kind])
        #expect(export.status == 0, "\(export.stderr)")
        return export.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// A run's outcome once it has one (nil if it has none within `limit`), through `medic audit list`.
    func outcome(of runID: String, in url: String, within limit: Duration = .seconds(10)) async throws -> String? {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < limit {
            let list = try await medic(["audit", "list", "--audit", url, "--format", "json"])
            let runs = (try? JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]) ?? []
            if let outcome = runs.first(where: { $0["id"] as? String == runID })?["outcome"] as? String {
                return outcome
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return nil
    }

    /// `medic ARGS` to completion on a thread of its own: waiting for it must not hold one of the async
    /// runtime's few threads (the servers' requests and the tests' timers need them).
    func medic(_ arguments: [String]) async throws -> ValidateCommandTests.Result {
        try await PostgresServer.blocking { try ValidateCommandTests.medicSync(arguments) }
    }

    @Test("the same alert posted to three replicas at once starts exactly one run, again and again")
    func sameAlertOnce() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let marker = directory.appending(path: "fixed").path
        try """
            runbook: restart
            triggers:
              - match: ['alertname="Down"']
            steps:
              - id: fix
                run: [sh, -c, 'echo "$1" >> \(marker)', x, '{{ alert.labels.instance }}']
                timeout: 10s
            """.write(to: runbooks.appending(path: "restart.yaml"), atomically: true, encoding: .utf8)
        let url = try await PostgresServer.shared().makeDatabase()
        let servers = try await replicas(3, audit: url)
        defer { for server in servers { _ = server.stop() } }
        let rounds = 8
        for round in 0..<rounds {
            let body =
                #"{"alerts":[{"status":"firing","labels":{"alertname":"Down","instance":"node\#(round)"},"startsAt":"2026-11-29T10:00:0\#(round)Z"}]}"#
            let answers = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for server in servers { group.addTask { try await server.request("/v1/alerts/alertmanager", body: body) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.allSatisfy { $0.0 == 202 }, "\(answers)")
            let ran = answers.filter { $0.1.contains(#""decision": "run""#) }
            let duplicates = answers.filter { $0.1.contains(#""reason_code": "dedup""#) }
            #expect(duplicates.count == 2, "the other two are duplicates of that run")
            #expect(ran.count == 1, "round \(round): \(answers.map(\.1))")
        }
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: marker, encoding: .utf8), text.split(separator: "\n").count >= rounds {
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        try await Task.sleep(for: .milliseconds(300))
        let lines = (try? String(contentsOfFile: marker, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
        #expect(lines.sorted() == (0..<rounds).map { "node\($0)" }, "each alert fixed once: \(lines)")
        let decided = try await records(url, kind: "decision.run")
        #expect(decided.count == rounds)
        let duplicates = try await records(url, kind: "decision.suppressed")
        #expect(duplicates.count == rounds * 2)
        #expect(duplicates.allSatisfy { ($0["body"] as? [String: Any])?["reason"] as? String == "dedup" })
        let verify = try await medic(["audit", "verify", "--audit", url])
        #expect(verify.status == 0, "\(verify.stderr)")
    }

    @Test("1,000 distinct alerts spread over three replicas each decide once, and the chain verifies")
    func thousandAlerts() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try """
            runbook: observe
            triggers:
              - match: ['alertname="Load"']
            steps:
              - id: look
                run: ['true']
            """.write(to: runbooks.appending(path: "observe.yaml"), atomically: true, encoding: .utf8)
        let url = try await PostgresServer.shared().makeDatabase()
        let servers = try await replicas(3, audit: url, extra: ["--shadow"])
        defer { for server in servers { _ = server.stop() } }
        // 100 notifications of 10 alerts each, round-robin over the replicas, 12 in flight at a time.
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            var statuses: [Int] = []
            for batch in 0..<100 {
                if batch >= 12, let status = try await group.next() { statuses.append(status) }
                let alerts = (0..<10).map { index in
                    #"{"status":"firing","labels":{"alertname":"Load","instance":"host\#(batch * 10 + index)"},"startsAt":"2026-11-29T10:00:00Z"}"#
                }
                let server = servers[batch % 3]
                group.addTask {
                    try await server.request(
                        "/v1/alerts/alertmanager", body: #"{"alerts":[\#(alerts.joined(separator: ","))]}"#
                    ).0
                }
            }
            for try await status in group { statuses.append(status) }
            return statuses
        }
        #expect(statuses.count == 100 && statuses.allSatisfy { $0 == 202 })
        let shadowed = try await records(url, kind: "decision.shadowed")
        let instances = shadowed.compactMap { ($0["body"] as? [String: Any])?["fingerprint"] as? String }
        #expect(shadowed.count == 1_000)
        #expect(Set(instances).count == 1_000, "one decision per alert")
        let server = try await PostgresServer.shared()
        let writers = try await PostgresServer.blocking {
            try server.psql(
                "SELECT COUNT(DISTINCT writer) FROM audit_record WHERE kind = 'decision.shadowed'",
                database: String(url.split(separator: "/").last!.split(separator: "?").first!))
        }
        #expect(writers.trimmingCharacters(in: .whitespacesAndNewlines) == "3", "all three replicas decided")
        let verify = try await medic(["audit", "verify", "--audit", url])
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(verify.stdout.contains("ok: "), "\(verify.stdout)")
    }

    @Test("while PostgreSQL is down, /readyz and intake answer 503; once it is back both recover and nothing accepted is lost")
    func databaseDown() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try """
            runbook: observe
            triggers:
              - match: ['alertname="Load"']
            steps:
              - id: look
                run: ['true']
            """.write(to: runbooks.appending(path: "observe.yaml"), atomically: true, encoding: .utf8)
        // A cluster of its own: stopping the shared one would fail the other tests.
        let postgres = try await PostgresServer.blocking { try PostgresServer.start() }
        defer { postgres.stop() }
        let url = try await postgres.makeDatabase()
        let server = try await replicas(1, audit: url, extra: ["--shadow"])[0]
        defer { _ = server.stop() }
        func alert(_ name: String) -> String {
            #"{"alerts":[{"status":"firing","labels":{"alertname":"Load","instance":"\#(name)"},"startsAt":"2026-11-29T10:00:00Z"}]}"#
        }
        #expect(try await server.request("/readyz", method: "GET").0 == 200)
        #expect(try await server.request("/v1/alerts/alertmanager", body: alert("before")).0 == 202)
        try await PostgresServer.blocking { try postgres.pause() }
        #expect(try await server.request("/readyz", method: "GET").0 == 503)
        let refused = try await server.request("/v1/alerts/alertmanager", body: alert("during"))
        #expect(refused.0 == 503, "\(refused.1)")
        try await PostgresServer.blocking { try postgres.restart() }
        var ready = 0
        for _ in 0..<100 {
            ready = try await server.request("/readyz", method: "GET").0
            if ready == 200 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(ready == 200)
        // Alertmanager sends the refused notification again (and again, while a pooled connection the restart
        // broke is still found): it is taken.
        func retried(_ body: String) async throws -> Int {
            var status = 0
            for _ in 0..<20 {
                status = try await server.request("/v1/alerts/alertmanager", body: body).0
                if status == 202 { break }
                try await Task.sleep(for: .milliseconds(500))
            }
            return status
        }
        #expect(try await retried(alert("during")) == 202)
        #expect(try await retried(alert("after")) == 202)
        let shadowed = try await records(url, kind: "decision.shadowed")
        #expect(shadowed.count == 3, "before, during (once, after the retry) and after")
        let verify = try await medic(["audit", "verify", "--audit", url])
        #expect(verify.status == 0, "\(verify.stderr)")
    }

    @Test("kill -9 of the replica running a step: another closes the run interrupted and escalates it within lease + 5 s; meanwhile its lock is granted to nobody")
    func deadReplicaRunsAreClosed() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try """
            runbook: slow-fix
            params:
              node: { type: string, from: alert.labels.instance, pattern: '[a-z0-9]+' }
            policy:
              concurrency: 'host:{{ params.node }}'
            triggers:
              - match: ['alertname="Stuck"']
            steps:
              - id: wait
                run: [sleep, '300']
                timeout: 10m
            """.write(to: runbooks.appending(path: "slow.yaml"), atomically: true, encoding: .utf8)
        try """
            runbook: careful-fix
            policy:
              mode: approval
            triggers:
              - match: ['alertname="Careful"']
            steps:
              - id: fix
                run: ['true']
            """.write(to: runbooks.appending(path: "careful.yaml"), atomically: true, encoding: .utf8)
        let url = try await PostgresServer.shared().makeDatabase()
        let servers = try await replicas(2, audit: url, extra: ["--lease", "3s"])
        defer { for server in servers { _ = server.stop() } }
        // A run the first replica decided and never started: it waits there for an approval.
        let waiting = try await servers[0].request(
            "/v1/alerts/alertmanager",
            body: #"{"alerts":[{"status":"firing","labels":{"alertname":"Careful","instance":"n9"}}]}"#)
        #expect(waiting.1.contains(#""decision": "awaiting_approval""#), "\(waiting.1)")
        let waitingID = try #require(
            waiting.1.split(separator: "\"").first { $0.contains("Z-") }.map(String.init), "\(waiting.1)")
        func alert(_ startsAt: String) -> String {
            #"{"alerts":[{"status":"firing","labels":{"alertname":"Stuck","instance":"n1"},"startsAt":"\#(startsAt)"}]}"#
        }
        let first = try await servers[0].request("/v1/alerts/alertmanager", body: alert("2026-11-29T10:00:00Z"))
        #expect(first.1.contains(#""decision": "run""#), "\(first.1)")
        let runID = try #require(
            first.1.split(separator: "\"").first { $0.hasPrefix("2026") || $0.contains("Z-") }.map(String.init))
        // The step is running on the first replica.
        for _ in 0..<100 {
            let shown = try await medic(["audit", "show", "--audit", url, runID])
            if shown.stdout.contains("wait") && shown.stdout.contains("started") { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        kill(servers[0].process.processIdentifier, SIGKILL)
        let killed = ContinuousClock.now
        // While its lease lives, the lock is the dead replica's: the second replica does not take it.
        let second = try await servers[1].request("/v1/alerts/alertmanager", body: alert("2026-11-29T10:05:00Z"))
        #expect(second.1.contains(#""reason_code": "concurrency""#), "\(second.1)")
        let outcome = try await outcome(of: runID, in: url, within: .seconds(30))
        let closedAfter = ContinuousClock.now - killed
        #expect(outcome == "interrupted")
        #expect(closedAfter < .seconds(8), "closed \(closedAfter) after the kill; the lease is 3 s")
        let escalated = try await records(url, kind: "run.escalated")
        #expect(
            escalated.contains {
                $0["run_id"] as? String == runID && ($0["body"] as? [String: Any])?["reason"] as? String == "replica_lost"
            }, "\(escalated)")
        // The run that only waited is closed and escalated too (it never had a run.started).
        var waitingClosed = false
        for _ in 0..<50 {
            let ends = try await records(url, kind: "run.finished")
            waitingClosed = ends.contains {
                $0["run_id"] as? String == waitingID && ($0["body"] as? [String: Any])?["outcome"] as? String == "interrupted"
            }
            if waitingClosed { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(waitingClosed, "the run awaiting approval on the dead replica was closed")
        #expect(
            try await records(url, kind: "run.escalated").contains { $0["run_id"] as? String == waitingID })
        let decided = try await records(url, kind: "decision.run")
        #expect(decided.count == 1, "nobody ran under the lock while the dead replica held it")
        // Once closed, the lock is free on the live replica (it took the closing records in).
        var third = ""
        for attempt in 0..<20 {
            third = try await servers[1].request("/v1/alerts/alertmanager", body: alert("2026-11-29T10:10:0\(attempt % 10)Z")).1
            if third.contains(#""decision": "run""#) { break }
            try await Task.sleep(for: .milliseconds(300))
        }
        #expect(third.contains(#""decision": "run""#), "\(third)")
        let verify = try await medic(["audit", "verify", "--audit", url])
        #expect(verify.status == 0, "\(verify.stderr)")
    }

    @Test("a replica cut off from PostgreSQL stops its running step before its lease runs out, without rollback, and records replica.fenced once it is back")
    func cutOffReplicaFencesItself() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let sleeper = "299.\(Int.random(in: 100_000...999_999))"
        let rolledBack = directory.appending(path: "rolled-back").path
        try """
            runbook: slow-fix
            params:
              node: { type: string, from: alert.labels.instance, pattern: '[a-z0-9]+' }
            policy:
              concurrency: 'host:{{ params.node }}'
            triggers:
              - match: ['alertname="Stuck"']
            steps:
              - id: wait
                run: [sleep, '\(sleeper)']
                timeout: 10m
                rollback:
                  run: [touch, '\(rolledBack)']
            """.write(to: runbooks.appending(path: "slow.yaml"), atomically: true, encoding: .utf8)
        let postgres = try await PostgresServer.blocking { try PostgresServer.start() }
        defer { postgres.stop() }
        let url = try await postgres.makeDatabase()
        let server = try await replicas(1, audit: url, extra: ["--lease", "3s"])[0]
        defer { _ = server.stop() }
        let first = try await server.request(
            "/v1/alerts/alertmanager",
            body: #"{"alerts":[{"status":"firing","labels":{"alertname":"Stuck","instance":"n1"},"startsAt":"2026-11-29T10:00:00Z"}]}"#)
        let runID = try #require(
            first.1.split(separator: "\"").first { $0.contains("Z-") }.map(String.init), "\(first.1)")
        func stepProcesses() -> [Int32] { Processes.matching { $0.contains("sleep\u{0}\(sleeper)") } }
        for _ in 0..<100 where stepProcesses().isEmpty { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!stepProcesses().isEmpty, "the step runs")
        try await PostgresServer.blocking { try postgres.pause() }
        let cut = ContinuousClock.now
        for _ in 0..<200 where !stepProcesses().isEmpty { try await Task.sleep(for: .milliseconds(100)) }
        let stoppedAfter = ContinuousClock.now - cut
        #expect(stepProcesses().isEmpty, "the step was stopped")
        // By the fence, not by the step's 10-minute timeout. (It fences two thirds of a lease after the last
        // renewal was sent; measuring that against the database's clock from here would be a timing test.)
        #expect(stoppedAfter < .seconds(15), "stopped \(stoppedAfter) after the cut")
        try await PostgresServer.blocking { try postgres.restart() }
        var fenced: [[String: Any]] = []
        for _ in 0..<150 {
            fenced = try await records(url, kind: "replica.fenced")
            if !fenced.isEmpty { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        let body = try #require(fenced.first?["body"] as? [String: Any], "replica.fenced was recorded")
        #expect((body["runs"] as? [String]) == [runID])
        #expect(body["replica"] as? String == "replica-1")
        #expect(try await outcome(of: runID, in: url, within: .seconds(20)) == "interrupted")
        #expect(!FileManager.default.fileExists(atPath: rolledBack), "no rollback ran without the lease")
        #expect(try await records(url, kind: "run.escalated").contains { $0["run_id"] as? String == runID })
        let verify = try await medic(["audit", "verify", "--audit", url])
        #expect(verify.status == 0, "\(verify.stderr)")
    }

    @Test("approve and cancel sent to any replica reach the replica that holds the run")
    func approveAndCancelAnywhere() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let marker = directory.appending(path: "approved").path
        try """
            runbook: careful-fix
            policy:
              mode: approval
            triggers:
              - match: ['alertname="Careful"']
            steps:
              - id: fix
                run: [sh, -c, 'echo "$MEDIC_RUN_ID" >> \(marker)']
            """.write(to: runbooks.appending(path: "careful.yaml"), atomically: true, encoding: .utf8)
        let url = try await PostgresServer.shared().makeDatabase()
        let servers = try await replicas(2, audit: url)
        defer { for server in servers { _ = server.stop() } }
        func waitingRun(_ instance: String) async throws -> String {
            let answer = try await servers[0].request(
                "/v1/alerts/alertmanager",
                body: #"{"alerts":[{"status":"firing","labels":{"alertname":"Careful","instance":"\#(instance)"}}]}"#)
            #expect(answer.1.contains(#""decision": "awaiting_approval""#), "\(answer.1)")
            return try #require(answer.1.split(separator: "\"").first { $0.contains("Z-") }.map(String.init))
        }
        func outcome(_ runID: String) async throws -> String? { try await self.outcome(of: runID, in: url) }
        let approved = try await waitingRun("n1")
        let approval = try await servers[1].request("/v1/runs/\(approved)/approve")
        #expect(approval.0 == 202, "\(approval.1)")
        #expect(approval.1.contains(#""forwarded_to":"replica-1""#) || approval.1.contains(#""forwarded_to": "replica-1""#), "\(approval.1)")
        #expect(try await outcome(approved) == "succeeded")
        #expect((try? String(contentsOfFile: marker, encoding: .utf8)) == "\(approved)\n", "it ran once, on the replica that held it")
        let cancelled = try await waitingRun("n2")
        let cancel = try await servers[1].request("/v1/runs/\(cancelled)/cancel")
        #expect(cancel.0 == 202, "\(cancel.1)")
        #expect(try await outcome(cancelled) == "cancelled")
        #expect(try await servers[1].request("/v1/runs/20261129T000000Z-00000000/approve").0 == 404)
        // Approving the finished run again, anywhere, is refused.
        #expect(try await servers[1].request("/v1/runs/\(approved)/approve").0 == 404)
        #expect(try await records(url, kind: "run.approved").filter { $0["run_id"] as? String == approved }.count == 1)
        let verify = try await medic(["audit", "verify", "--audit", url])
        #expect(verify.status == 0, "\(verify.stderr)")
    }
}
