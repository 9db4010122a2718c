import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `medic serve` as a real process on 127.0.0.1: intake, reload that keeps the old set, SIGHUP, SIGTERM.
@Suite struct ServeCommandTests {
    static func request(_ url: URL, method: String = "POST", body: String = "") async throws -> (Int, String) {
        var request = URLRequest(url: url)
        request.httpMethod = method
        if method == "POST" { request.httpBody = Data(body.utf8) }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// A scratch directory with an empty `runbooks/` inside.
    static func scratch() throws -> (directory: URL, runbooks: URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("medic-serve-\(UUID())")
        let runbooks = directory.appendingPathComponent("runbooks")
        try FileManager.default.createDirectory(at: runbooks, withIntermediateDirectories: true)
        return (directory, runbooks)
    }

    @Test("serve: alerts run runbooks, a broken reload keeps the old set, SIGHUP reloads, SIGTERM stops cleanly")
    func serve() async throws {
        let (directory, runbooks) = try Self.scratch()
        let marker = directory.appendingPathComponent("fixed").path
        try """
        runbook: down-fix
        params:
          host: { type: string, from: alert.labels.instance, pattern: '[a-z0-9.:-]+' }
        triggers:
          - match: ['alertname="Down"']
        steps:
          - id: fix
            run: [sh, -c, 'echo "fixed $1" >> \(marker)', x, '{{ params.host }}']
            timeout: 5s
        """.write(to: runbooks.appendingPathComponent("down.yaml"), atomically: true, encoding: .utf8)
        let server = try await Server(
            ["--runbooks", runbooks.path, "--audit", directory.appendingPathComponent("audit.db").path], in: directory)
        defer { _ = server.stop() }

        func alert(_ startsAt: String) -> String {
            #"{"alerts":[{"status":"firing","labels":{"alertname":"Down","instance":"db1"},"startsAt":"\#(startsAt)"}]}"#
        }
        #expect(try await server.request("/v1/alerts/alertmanager", body: alert("2026-11-25T10:00:00Z")).0 == 202)

        try "runbook: broken\nsteps:\n  - id: a\n    retires: 1\n".write(
            to: runbooks.appendingPathComponent("broken.yaml"), atomically: true, encoding: .utf8)
        let (rejected, body) = try await server.request("/-/reload")
        #expect(rejected == 422)
        #expect(body.contains("did you mean 'retry'?"))
        #expect(try await server.request("/v1/alerts/alertmanager", body: alert("2026-11-25T11:00:00Z")).0 == 202)
        for _ in 0..<100 {
            if let text = try? String(contentsOfFile: marker, encoding: .utf8), text.split(separator: "\n").count == 2 {
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "fixed db1\nfixed db1\n")

        let (listed, runsBody) = try await server.request("/v1/runs", method: "GET")
        #expect(listed == 200)
        let runs = try #require(try JSONSerialization.jsonObject(with: Data(runsBody.utf8)) as? [[String: Any]])
        #expect(runs.count == 2)
        let runID = try #require(runs.first?["id"] as? String)
        let (shown, runBody) = try await server.request("/v1/runs/\(runID)", method: "GET")
        #expect(shown == 200)
        let run = try #require(try JSONSerialization.jsonObject(with: Data(runBody.utf8)) as? [String: Any])
        let timeline = try #require(run["timeline"] as? [[String: Any]])
        #expect(timeline.contains { $0["kind"] as? String == "run.finished" })
        #expect(runBody.contains("\"timed_out\":false"))
        #expect(try await server.request("/v1/runs/nope", method: "GET").0 == 404)
        for query in ["limit=abc", "since=yesterday", "runbok=x"] {
            let (bad, message) = try await server.request("/v1/runs?\(query)", method: "GET")
            #expect(bad == 400, "\(query)")
            #expect(message.contains("error"))
        }

        try FileManager.default.removeItem(at: runbooks.appendingPathComponent("broken.yaml"))
        kill(server.process.processIdentifier, SIGHUP)
        for _ in 0..<50 where !server.logText.contains("reloaded 1 runbooks") {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(server.logText.contains("reloaded 1 runbooks"))
        #expect(server.stop() == 0)
    }

    @Test("SIGTERM during a run: intake stops, the run gets its grace period, then is torn down and recorded")
    func sigtermDuringRun() async throws {
        let (directory, runbooks) = try Self.scratch()
        try
            "runbook: slow\ntriggers:\n  - match: ['alertname=\"Slow\"']\nsteps:\n  - id: wait\n    run: [sleep, '30']\n    timeout: 1m\n"
            .write(to: runbooks.appendingPathComponent("slow.yaml"), atomically: true, encoding: .utf8)
        let audit = directory.appendingPathComponent("audit.db").path
        let server = try await Server(
            ["--runbooks", runbooks.path, "--audit", audit, "--shutdown-grace", "500ms"], in: directory)
        defer { _ = server.stop() }
        #expect(try await server.request("/v1/alerts", body: #"{"labels":{"alertname":"Slow"}}"#).0 == 202)
        try await Task.sleep(for: .milliseconds(300))
        #expect(server.stop() == 0)
        let list = try ValidateCommandTests.medicSync(["audit", "list", "--audit", audit, "--format", "json"])
        let runs = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(runs.first?["outcome"] as? String == "cancelled")
        #expect(try ValidateCommandTests.medicSync(["audit", "verify", "--audit", audit]).status == 0)
    }

    /// A `medic serve` child on a random loopback port, healthy before this returns; its stderr goes to `log`.
    struct Server {
        let process: Process
        let base: URL
        let log: URL

        /// - Parameter wrapper: a command that execs medic with the same pid (`prlimit --fsize=N: --`).
        init(
            _ arguments: [String], in directory: URL, environment: [String: String] = [:], wrapper: [String] = []
        ) async throws {
            let port = Int.random(in: 20_000...40_000)
            base = URL(string: "http://127.0.0.1:\(port)")!
            log = directory.appendingPathComponent("serve-\(port).log")
            FileManager.default.createFile(atPath: log.path, contents: nil)
            process = Process()
            let command = wrapper + [ValidateCommandTests.binary.path, "serve", "--listen", "127.0.0.1:\(port)"]
            process.executableURL = URL(fileURLWithPath: command[0])
            process.arguments = Array(command.dropFirst()) + arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
            process.standardOutput = try FileHandle(forWritingTo: log)
            process.standardError = process.standardOutput
            try process.run()
            for _ in 0..<100 {
                if (try? await ServeCommandTests.request(base.appendingPathComponent("healthz"), method: "GET"))?.0
                    == 200
                {
                    return
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            process.terminate()
            Issue.record("medic serve did not become healthy: \(logText)")
        }

        var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

        func request(_ path: String, method: String = "POST", body: String = "", token: String? = nil) async throws
            -> (Int, String)
        {
            var request = URLRequest(url: URL(string: base.absoluteString + path)!)
            request.httpMethod = method
            if method == "POST" { request.httpBody = Data(body.utf8) }
            if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
            let (data, response) = try await URLSession.shared.data(for: request)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
        }

        func stop() -> Int32 {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
            return process.terminationStatus
        }
    }

    @Test("serve: secrets from the environment stay out of runbooks; /metrics and JSON logs tell what happened")
    func environmentSecretsMetricsAndLogs() async throws {
        let (directory, runbooks) = try Self.scratch()
        let marker = directory.appendingPathComponent("seen").path
        try """
        runbook: disk-fix
        triggers:
          - match: ['alertname="DiskFull"']
        policy:
          inherit_env: [MEDIC_TEST_INTAKE, MEDIC_TEST_VISIBLE]
        steps:
          - id: clean
            run: [sh, -c, 'echo "${MEDIC_TEST_INTAKE:-hidden} ${MEDIC_TEST_VISIBLE:-unset}" > \(marker)']
          - id: verify
            run: [sh, -c, 'exit 4']
            needs: [clean]
        """.write(to: runbooks.appendingPathComponent("disk.yaml"), atomically: true, encoding: .utf8)
        let server = try await Server(
            [
                "--runbooks", runbooks.path, "--audit", directory.appendingPathComponent("audit.db").path,
                "--intake-token-env", "MEDIC_TEST_INTAKE", "--api-token-env", "MEDIC_TEST_API", "--log-format", "json",
            ], in: directory,
            environment: [
                "MEDIC_TEST_INTAKE": "intake-secret\n", "MEDIC_TEST_API": "api-secret", "MEDIC_TEST_VISIBLE": "yes",
            ])
        defer { _ = server.stop() }
        let alert = #"{"alerts":[{"status":"firing","labels":{"alertname":"DiskFull","instance":"db1"}}]}"#
        #expect(try await server.request("/v1/alerts/alertmanager", body: alert).0 == 401)
        #expect(try await server.request("/v1/alerts/alertmanager", body: alert, token: "api-secret").0 == 401)
        #expect(try await server.request("/v1/alerts/alertmanager", body: "{", token: "intake-secret").0 == 400)
        let (accepted, answer) = try await server.request(
            "/v1/alerts/alertmanager", body: alert, token: "intake-secret")
        #expect(accepted == 202, "\(answer)")
        #expect(try await server.request("/v1/runs", method: "GET", token: "intake-secret").0 == 401)
        var finished = false
        for _ in 0..<100 where !finished {
            let (_, runs) = try await server.request("/v1/runs", method: "GET", token: "api-secret")
            finished = runs.contains("\"failed\"")
            if !finished { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(finished)
        // The intake token's variable is withheld from runbooks even when listed in inherit_env.
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "hidden yes\n")

        let (scraped, metrics) = try await server.request("/metrics", method: "GET")
        #expect(scraped == 200)
        for line in [
            #"medic_alerts_received_total{source="alertmanager",status="firing"} 1"#,
            #"medic_intake_requests_total{source="alertmanager",code="401"} 2"#,
            #"medic_intake_requests_total{source="alertmanager",code="400"} 1"#,
            #"medic_intake_requests_total{source="alertmanager",code="202"} 1"#,
            #"medic_decisions_total{decision="run",reason=""} 1"#,
            #"medic_runs_total{runbook="disk-fix",outcome="failed"} 1"#,
            #"medic_step_duration_seconds_count{runbook="disk-fix",step="clean",phase="main"} 1"#,
            "medic_runs_in_flight 0.0", "medic_runbooks_loaded 1.0",
        ] {
            #expect(metrics.contains(line), "missing \(line) in\n\(metrics)")
        }
        #expect(server.stop() == 0)

        let lines = server.logText.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(
            lines.count == server.logText.split(separator: "\n").count, "every log line is JSON:\n\(server.logText)")
        let failedStep = lines.first {
            $0["kind"] as? String == "attempt.finished" && $0["step.id"] as? String == "verify"
        }
        #expect(failedStep?["level"] as? String == "warning")
        #expect(failedStep?["exit_code"] as? Int == 4)
        #expect((failedStep?["run.id"] as? String)?.isEmpty == false)
        let received = lines.first { $0["kind"] as? String == "alert.received" }
        #expect((received?["alert.fingerprint"] as? String)?.count == 16)
        #expect(lines.contains { $0["message"] as? String == "intake request refused" && $0["code"] as? Int == 400 })
        #expect(!server.logText.contains("intake-secret") && !server.logText.contains("api-secret"))
    }

    @Test("serve: a bad log level or format says whether it came from the flag or the config file")
    func logSettingsAreChecked() throws {
        let (directory, _) = try Self.scratch()
        let config = directory.appendingPathComponent("medic.yaml").path
        try "log_level: loud\n".write(toFile: config, atomically: true, encoding: .utf8)
        let fromFile = try ValidateCommandTests.medicSync(["serve", "--config", config])
        #expect(fromFile.status != 0)
        #expect(fromFile.stderr.contains("log_level in \(config) takes trace, debug"), "\(fromFile.stderr)")
        let fromFlag = try ValidateCommandTests.medicSync(["serve", "--log-format", "xml"])
        #expect(fromFlag.status != 0)
        #expect(fromFlag.stderr.contains("--log-format takes auto, json or text, got 'xml'"), "\(fromFlag.stderr)")
    }

    @Test("serve: every bad setting is reported in one usage error (exit 64), the file's and the flags' together")
    func everyBadSettingAtOnce() throws {
        let (directory, _) = try Self.scratch()
        let config = directory.appendingPathComponent("medic.yaml").path
        try "max_queued_runs: 0\nlog_format: yaml\n".write(toFile: config, atomically: true, encoding: .utf8)
        let result = try ValidateCommandTests.medicSync(
            ["serve", "--config", config, "--max-concurrent-runs", "0", "--listen", "nowhere"])
        #expect(result.status == 64)
        for message in [
            "\(config):1:1: 'max_queued_runs' must be a positive whole number, found '0'",
            "log_format in \(config) takes auto, json or text, got 'yaml'",
            "--max-concurrent-runs must be a positive whole number, got '0'",
            "--listen takes HOST:PORT, got 'nowhere'",
        ] {
            #expect(result.stderr.contains(message), "\(result.stderr)")
        }
    }

    @Test("serve: a secret variable that is unset or empty, or given twice, is refused at start with the reason")
    func secretSourcesAreChecked() throws {
        let cases: [([String], String)] = [
            (["--intake-token-env", "MEDIC_TEST_UNSET_\(UUID().uuidString.prefix(6))"], "is not set"),
            (["--api-token-env", "MEDIC_TEST_EMPTY"], "MEDIC_TEST_EMPTY is empty"),
            (["--hmac-secret-env", "HOME", "--hmac-secret-file", "/etc/hostname"], "not both"),
        ]
        for (arguments, message) in cases {
            let result = try ValidateCommandTests.medicSync(
                ["serve", "--listen", "127.0.0.1:1", "--runbooks", "runbooks"] + arguments,
                environment: ["MEDIC_TEST_EMPTY": " "])
            #expect(result.status != 0)
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
    }

    @Test("kill -9 mid-run, restart: a runbook with on_interrupt: rollback has its succeeded steps undone and recorded")
    func interruptedRunIsRolledBack() async throws {
        let (directory, runbooks) = try Self.scratch()
        let journal = directory.appendingPathComponent("journal").path
        try """
        runbook: drain-node
        params:
          node: { type: string, from: alert.labels.instance }
          token: { type: string, from: env.MEDIC_TEST_TOKEN, secret: true }
        triggers:
          - match: ['alertname="NodeBad"']
        policy:
          on_interrupt: rollback
        steps:
          - id: cordon
            run: [sh, -c, 'echo "cordon $1 $2" >> \(journal); echo cordoned-$1', x, '{{ params.node }}', '{{ params.token }}']
            timeout: 5s
            rollback:
              run: [sh, -c, 'echo "uncordon $1 $2 $3" >> \(journal)', x, '{{ params.node }}', '{{ steps.cordon.stdout }}', '{{ params.token }}']
              timeout: 5s
          - id: drain
            run: [sleep, '4']
            timeout: 10s
            rollback:
              run: [sh, -c, 'echo "never: drain did not succeed" >> \(journal)']
              timeout: 5s
        """.write(to: runbooks.appendingPathComponent("drain.yaml"), atomically: true, encoding: .utf8)
        let audit = directory.appendingPathComponent("audit.db").path
        let arguments = ["--runbooks", runbooks.path, "--audit", audit]
        let environment = ["MEDIC_TEST_TOKEN": "tok3n"]
        let first = try await Server(arguments, in: directory, environment: environment)
        let (status, _) = try await first.request(
            "/v1/alerts/alertmanager",
            body: #"{"alerts":[{"status":"firing","labels":{"alertname":"NodeBad","instance":"node7"}}]}"#)
        #expect(status == 202)
        for _ in 0..<100 where (try? String(contentsOfFile: journal, encoding: .utf8)) == nil {
            try await Task.sleep(for: .milliseconds(20))
        }
        try await Task.sleep(for: .milliseconds(200))
        kill(first.process.processIdentifier, SIGKILL)
        first.process.waitUntilExit()

        let second = try await Server(arguments, in: directory, environment: environment)
        #expect(try await second.request("/healthz", method: "GET").0 == 200)
        #expect(second.stop() == 0)
        #expect(
            try String(contentsOfFile: journal, encoding: .utf8)
                == "cordon node7 tok3n\nuncordon node7 cordoned-node7 tok3n\n")
        let list = try ValidateCommandTests.medicSync(["audit", "list", "--audit", audit, "--format", "json"])
        let runs = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(runs.count == 1)
        #expect(runs.first?["outcome"] as? String == "interrupted")
        let runID = try #require(runs.first?["id"] as? String)
        let export = try ValidateCommandTests.medicSync(["audit", "export", "--audit", audit, "--run", runID])
        let kinds = export.stdout.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["kind"] as? String
        }
        #expect(
            Array(kinds.suffix(6)) == [
                "run.recovering", "rollback.started", "attempt.started", "attempt.finished", "rollback.finished",
                "run.finished",
            ])
        #expect(!export.stdout.contains("tok3n"), "the secret param reached the audit log")
        #expect(try ValidateCommandTests.medicSync(["audit", "verify", "--audit", audit]).status == 0)
    }
}
