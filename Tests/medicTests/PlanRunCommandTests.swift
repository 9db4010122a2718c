import Foundation
import Testing

/// `medic plan` and `medic run` as a user runs them: real binary, real processes, temp files.
@Suite struct PlanRunCommandTests {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("medic-cli-run-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func write(_ name: String, _ text: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    var marker: String { directory.appendingPathComponent("created").path }
    var audit: String { directory.appendingPathComponent("audit.db").path }

    var runbookText: String {
        """
        runbook: touchy
        params:
          instance: { type: string, from: alert.labels.instance, pattern: '[A-Za-z0-9.:-]+' }
          token: { type: string, from: env.MEDIC_TEST_SECRET, default: '', secret: true }
        steps:
          - id: probe
            run: [echo, 'probing {{ params.instance }}']
            timeout: 5s
            readonly: true
          - id: create
            run: [touch, '\(marker)']
            when: steps.probe.exit_code == 0
            timeout: 5s
            rollback: { run: [rm, -f, '\(marker)'], timeout: 5s }
          - id: report
            shell: echo "token=$TOKEN"
            env: { TOKEN: '{{ params.token }}' }
            timeout: 5s
        """
    }

    var alertFile: String {
        get throws {
            try write(
                "alert.json",
                #"{"receiver":"medic","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"X","instance":"db1:9100"},"annotations":{}},{"status":"firing","labels":{"alertname":"X","instance":"db2:9100"},"annotations":{}}]}"#
            )
        }
    }

    @Test("plan executes nothing without --probe, and renders the alert's values")
    func planStartsNothing() throws {
        let runbook = try write("touchy.yaml", runbookText)
        let result = try ValidateCommandTests.medicSync([
            "plan", runbook, "--alert", try alertFile, "--alert-index", "1",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("run: echo 'probing db2:9100'"))
        #expect(result.stdout.contains("nothing was executed"))
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test("plan --probe runs only the readonly step and shows its output; --format json has the documented fields")
    func planProbe() throws {
        let runbook = try write("touchy.yaml", runbookText)
        let result = try ValidateCommandTests.medicSync([
            "plan", runbook, "--alert", try alertFile, "--probe", "--format", "json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("holds 2 alerts; using alert 0"))
        #expect(!FileManager.default.fileExists(atPath: marker))
        let plan = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(plan["runbook"] as? String == "touchy")
        #expect((plan["params"] as? [String: String])?["instance"] == "db1:9100")
        #expect(plan["parallel_groups"] as? [[String]] == [["probe"], ["create"], ["report"]])
        let steps = try #require(plan["steps"] as? [[String: Any]])
        #expect(steps.map { $0["id"] as? String } == ["probe", "create", "report"])
        for key in ["id", "needs", "env", "timeout_ms", "retry", "readonly", "when", "rollback"] {
            #expect(steps[1][key] != nil, "missing \(key)")
        }
        #expect(steps[0]["argv"] as? [String] == ["echo", "probing db1:9100"])
        #expect(steps[2]["shell"] as? String == "echo \"token=$TOKEN\"")
        #expect((steps[0]["probe"] as? [String: Any])?["stdout"] as? String == "probing db1:9100\n")
        #expect(steps[1]["when_result"] as? Bool == true)
    }

    @Test("a param that fails its pattern stops plan and run with a message naming it, exit 1")
    func badParam() throws {
        let runbook = try write("touchy.yaml", runbookText)
        for command in ["plan", "run"] {
            let extra = command == "run" ? ["--audit", audit] : []
            let result = try ValidateCommandTests.medicSync(
                [command, runbook, "--param", "instance=db1; rm -rf /"] + extra)
            #expect(result.status == 1)
            #expect(result.stderr.contains("param 'instance': 'db1; rm -rf /' does not match pattern"))
        }
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test("run: live progress, the report as JSON, secrets redacted, exit 0")
    func runSucceeds() throws {
        let runbook = try write("touchy.yaml", runbookText)
        let events = directory.appendingPathComponent("events.jsonl").path
        let process = try ValidateCommandTests.medicSync(
            ["run", runbook, "--param", "instance=db1", "--format", "json", "--events", events, "--audit", audit],
            environment: ["MEDIC_TEST_SECRET": "hunter2-secret"])
        #expect(process.status == 0, "\(process.stderr)")
        #expect(FileManager.default.fileExists(atPath: marker))
        #expect(process.stderr.contains("✔ create succeeded"))
        let report = try #require(try JSONSerialization.jsonObject(with: Data(process.stdout.utf8)) as? [String: Any])
        #expect(report["outcome"] as? String == "succeeded")
        for key in ["run_id", "runbook", "started_at", "finished_at", "steps"] { #expect(report[key] != nil) }
        let steps = try #require(report["steps"] as? [[String: Any]])
        let attempts = try #require(steps[2]["attempts"] as? [[String: Any]])
        #expect(attempts[0]["stdout"] as? String == "token=***\n")
        for key in [
            "number", "exit_code", "signal", "timed_out", "duration_ms", "stdout", "stderr", "stdout_bytes",
            "stderr_bytes",
        ] {
            #expect(attempts[0][key] != nil, "missing \(key)")
        }
        let log = try String(contentsOfFile: events, encoding: .utf8)
        #expect(!log.contains("hunter2-secret"))
        #expect(!process.stdout.contains("hunter2-secret") && !process.stderr.contains("hunter2-secret"))
        #expect(log.split(separator: "\n").count >= 8)
    }

    @Test("run: a failing step rolls back, exit 1")
    func runFails() throws {
        let text = runbookText.replacingOccurrences(of: "shell: echo \"token=$TOKEN\"", with: "shell: exit 9")
        let runbook = try write("touchy.yaml", text)
        let result = try ValidateCommandTests.medicSync(
            ["run", runbook, "--param", "instance=db1", "--audit", audit])
        #expect(result.status == 1)
        #expect(result.stdout.contains("✘ report failed: exit 9"))
        #expect(result.stdout.contains("rolled_back      create"))
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test("run: SIGINT stops the running step, rolls back, records cancelled")
    func runInterrupted() async throws {
        let text = runbookText.replacingOccurrences(of: "shell: echo \"token=$TOKEN\"", with: "shell: sleep 300")
        let runbook = try write("touchy.yaml", text)
        let process = Process()
        process.executableURL = ValidateCommandTests.binary
        process.arguments = [
            "run", runbook, "--param", "instance=db1", "--events", directory.appendingPathComponent("e.jsonl").path,
        ]
        let output = directory.appendingPathComponent("out")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = process.standardOutput
        try process.run()
        // Up to 30 s: on a loaded CI machine `medic run` may take seconds to start its first step.
        for _ in 0..<600 {
            if let text = try? String(contentsOf: output, encoding: .utf8), text.contains("▶ report") { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        let printed = try String(contentsOf: output, encoding: .utf8)
        #expect(process.terminationStatus == 1)
        #expect(printed.contains("outcome: cancelled"), "\(printed)")
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test("the audit commands tell the story of a run, and verify the chain")
    func auditCommands() throws {
        let runbook = try write("touchy.yaml", runbookText)
        let run = try ValidateCommandTests.medicSync([
            "run", runbook, "--alert", try alertFile, "--format", "json", "--audit", audit,
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let runID = try #require(report["run_id"] as? String)

        let list = try ValidateCommandTests.medicSync([
            "audit", "list", "--audit", audit, "--format", "json", "--alertname", "X",
        ])
        let runs = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(runs.map { $0["id"] as? String } == [runID])
        #expect(runs.first?["outcome"] as? String == "succeeded")
        #expect(runs.first?["fingerprint"] as? String != nil)

        let show = try ValidateCommandTests.medicSync(["audit", "show", runID, "--audit", audit])
        #expect(show.status == 0)
        #expect(show.stdout.contains("alert: X (firing"))
        #expect(show.stdout.contains("▶ create attempt 1: touch"))
        #expect(show.stdout.contains("outcome: succeeded"))

        let verify = try ValidateCommandTests.medicSync(["audit", "verify", "--audit", audit])
        #expect(verify.status == 0)
        #expect(verify.stdout.hasPrefix("ok: "))
        let head = try ValidateCommandTests.medicSync(["audit", "head", "--audit", audit]).stdout.trimmingCharacters(
            in: .whitespacesAndNewlines)
        #expect(
            try ValidateCommandTests.medicSync(["audit", "verify", "--audit", audit, "--expect-head", head]).status == 0
        )
        #expect(
            try ValidateCommandTests.medicSync([
                "audit", "verify", "--audit", audit, "--expect-head", "9999:" + String(repeating: "a", count: 64),
            ]).status == 1)

        let export = try ValidateCommandTests.medicSync(["audit", "export", "--audit", audit, "--run", runID])
        #expect(export.stdout.split(separator: "\n").count >= 8)
        let csv = try ValidateCommandTests.medicSync(["audit", "export", "--audit", audit, "--format", "csv"])
        #expect(csv.stdout.hasPrefix("seq,time,kind,run_id,prev_hash,hash,body\n"))
        #expect(
            try ValidateCommandTests.medicSync([
                "audit", "list", "--audit", directory.appendingPathComponent("none.db").path,
            ]).status == 1)
    }

    @Test("kill -9 during medic run leaves a verifiable log and an interrupted run on the next open")
    func killNine() async throws {
        // A unique duration, so the orphaned step can be found and cleaned up without touching other tests.
        let sleeper = "sleep 299.\(Int.random(in: 100_000...999_999))"
        let text = runbookText.replacingOccurrences(of: "shell: echo \"token=$TOKEN\"", with: "shell: \(sleeper)")
        let runbook = try write("touchy.yaml", text)
        let process = Process()
        process.executableURL = ValidateCommandTests.binary
        process.arguments = ["run", runbook, "--param", "instance=db1", "--audit", audit]
        let output = directory.appendingPathComponent("out")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = process.standardOutput
        try process.run()
        // Up to 30 s: on a loaded CI machine `medic run` may take seconds to start its first step.
        for _ in 0..<600 {
            if let printed = try? String(contentsOf: output, encoding: .utf8), printed.contains("▶ report") { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let list = try ValidateCommandTests.medicSync(["audit", "list", "--audit", audit, "--format", "json"])
        #expect(list.stderr.contains("marked 1 run(s)"), "\(list.stderr)")
        let runs = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(runs.first?["outcome"] as? String == "interrupted")
        let verify = try ValidateCommandTests.medicSync(["audit", "verify", "--audit", audit])
        #expect(verify.status == 0, "\(verify.stderr)")
        let pkill = Process()
        pkill.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // Belt and braces: the step's launcher kills the step when Medic dies (stepDiesWithMedic checks that).
        pkill.arguments = ["pkill", "-f", "^\(sleeper)$"]
        try? pkill.run()
        pkill.waitUntilExit()
    }

    /// True while `pid` is a live (not zombie) process. This sandbox's init does not reap orphans.
    static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X"
    }

    @Test("a step running when medic run is killed with -9 dies with it: its children and setsid escapees too")
    func stepDiesWithMedic() async throws {
        func file(_ name: String) -> String { directory.appendingPathComponent(name).path }
        let names = ["shell", "child", "escapee", "substitution"]
        // A shell step with a background child, an escapee that left the group and the session, and a command
        // substitution it waits in: the shapes a real step takes (`used=$(df ...)`).
        let script = [
            "echo $$ > '\(file("shell"))'",
            "sleep 300 & echo $! > '\(file("child"))'",
            "setsid sleep 300 >/dev/null 2>&1 & echo $! > '\(file("escapee"))'",
            "used=$(sleep 300 & echo $! > '\(file("substitution"))'; wait)",
            "wait",
        ].map { "      \($0)" }.joined(separator: "\n")
        let runbook = try write(
            "sleepy.yaml",
            """
            runbook: sleepy
            steps:
              - id: nap
                shell: |
            \(script)
                timeout: 10m
            """)
        let process = Process()
        process.executableURL = ValidateCommandTests.binary
        process.arguments = ["run", runbook, "--audit", audit]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var pids: [String: Int32] = [:]
        for _ in 0..<200 where pids.count < names.count {
            for name in names where pids[name] == nil {
                if let text = try? String(contentsOfFile: file(name), encoding: .utf8),
                    let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), Self.isAlive(pid)
                {
                    pids[name] = pid
                }
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        #expect(pids.count == names.count, "the step never started all of \(names): \(pids)")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        // The launcher reaps what it kills; it is left a zombie of this sandbox's init, which reaps no orphans. A
        // zombie counts as dead.
        var survivors = pids
        for _ in 0..<100 where !survivors.isEmpty {
            survivors = survivors.filter { Self.isAlive($0.value) }
            try await Task.sleep(for: .milliseconds(50))
        }
        for pid in survivors.values { kill(pid, SIGKILL) }
        #expect(survivors.isEmpty, "outlived their medic: \(survivors)")
    }

    @Test("several medic processes recording into one audit log at once form one intact chain")
    func concurrentWriters() throws {
        let runbook = try write(
            "hello.yaml",
            "runbook: hello\nsteps:\n  - id: a\n    run: [echo, hi]\n    timeout: 5s\n  - id: b\n    run: [echo, there]\n    timeout: 5s\n"
        )
        let processes = try (0..<4).map { _ -> Process in
            let process = Process()
            process.executableURL = ValidateCommandTests.binary
            process.arguments = ["run", runbook, "--audit", audit]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            return process
        }
        for process in processes {
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
        }
        let verify = try ValidateCommandTests.medicSync(["audit", "verify", "--audit", audit, "--format", "json"])
        let result = try #require(try JSONSerialization.jsonObject(with: Data(verify.stdout.utf8)) as? [String: Any])
        #expect(result["intact"] as? Bool == true)
        let list = try ValidateCommandTests.medicSync(["audit", "list", "--audit", audit, "--format", "json"])
        #expect((try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [Any])?.count == 4)
    }
}
