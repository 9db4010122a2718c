import Foundation
import MedicTestSupport
import Testing

/// `medic serve` healing the host an alert names, over a real sshd on 127.0.0.2: the whole path from an
/// Alertmanager webhook to a step on the target and back into the audit log, and the ControlMaster connection
/// closed when serve stops.
@Suite(.serialized) struct ServeRemoteTests {
    @Test("an alert about 127.0.0.2:9100 runs its step on 127.0.0.2 through --ssh-config; stopping serve closes the connection")
    func serveHealsTheAlertsHost() async throws {
        let sshd = try SSHServer.start(address: "127.0.0.2")
        defer { sshd.stop() }
        let (directory, runbooks) = try ServeCommandTests.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        // Short: a ControlMaster socket path has at most 107 bytes.
        var template = Array("/tmp/mst-XXXXXX".utf8CString)
        let temporary = URL(fileURLWithPath: String(cString: try #require(mkdtemp(&template))))
        defer { try? FileManager.default.removeItem(at: temporary) }
        let marker = directory.appendingPathComponent("healed").path
        try """
        runbook: heal-node
        params:
          node: { type: string, from: alert.labels.instance, extract: '([^:]+)(?::[0-9]+)?' }
        triggers:
          - match: ['alertname="NodeSick"']
        target: { ssh: '{{ params.node }}', port: \(sshd.port) }
        steps:
          - id: heal
            run: [sh, -c, 'echo "$1 $SSH_CONNECTION" > \(marker)', heal, '{{ params.node }}']
            timeout: 20s
        """.write(to: runbooks.appendingPathComponent("heal.yaml"), atomically: true, encoding: .utf8)
        let server = try await ServeCommandTests.Server(
            [
                "--runbooks", runbooks.path, "--audit", directory.appendingPathComponent("audit.db").path,
                "--ssh-config", sshd.configFile.path,
            ], in: directory, environment: ["TMPDIR": temporary.path])
        var stopped = false
        defer { if !stopped { _ = server.stop() } }

        let alert = #"{"alerts":[{"status":"firing","labels":{"alertname":"NodeSick","instance":"127.0.0.2:9100"}}]}"#
        #expect(try await server.request("/v1/alerts/alertmanager", body: alert).0 == 202)
        var runID: String?
        for _ in 0..<200 where runID == nil {
            let (_, body) = try await server.request("/v1/runs", method: "GET")
            let runs = (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [[String: Any]]) ?? []
            runID = runs.first { $0["outcome"] as? String == "succeeded" }?["id"] as? String
            if runID == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let listing = try await server.request("/v1/runs", method: "GET").1
        let id = try #require(runID, "no run succeeded: \(listing) \(server.logText)")
        // On the target: sshd's SSH_CONNECTION ends with its own address and port.
        let healed = try String(contentsOfFile: marker, encoding: .utf8)
        #expect(healed.hasPrefix("127.0.0.2 ") && healed.hasSuffix(" 127.0.0.2 \(sshd.port)\n"), "\(healed)")
        let (_, shown) = try await server.request("/v1/runs/\(id)", method: "GET")
        #expect(shown.contains(#""target":"ssh:\/\/127.0.0.2:\#(sshd.port)""#) || shown.contains("\"target\":\"ssh://127.0.0.2:\(sshd.port)\""), "\(shown)")

        // Medic's ControlMaster connection is open while serve runs, its socket in a private directory under
        // its TMPDIR.
        func masters() -> [Int32] {
            Processes.matching { line in
                let program = line.split(separator: "\0").first ?? ""
                return (program == "ssh" || program.hasSuffix("/ssh")) && line.contains(temporary.path)
                    && line.contains("ControlMaster=yes")
            }
        }
        let directories = try FileManager.default.contentsOfDirectory(atPath: temporary.path).filter {
            $0.hasPrefix("medic-ssh-")
        }
        #expect(directories.count == 1, "\(directories)")
        #expect(masters().count == 1, "no master, or more than one: \(masters())")
        #expect(server.stop() == 0)
        stopped = true
        // Closed on shutdown: the directory is gone, and no ssh master for this server is left.
        #expect(try FileManager.default.contentsOfDirectory(atPath: temporary.path).filter { $0.hasPrefix("medic-ssh-") }.isEmpty)
        var left = masters()
        for _ in 0..<50 where !left.isEmpty {
            try await Task.sleep(for: .milliseconds(100))
            left = masters()
        }
        for pid in left { kill(pid, SIGKILL) }
        #expect(left.isEmpty, "ssh masters left: \(left)")
    }
}

/// `medic serve` killed with SIGKILL while a verification is pending: the next one decides it, once.
@Suite struct ServeVerificationRestartTests {
    @Test("kill -9 while a verification is pending: after restart it is decided, never lost, never twice")
    func pendingSurvivesKillNine() async throws {
        let (directory, runbooks) = try ServeCommandTests.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        try """
        runbook: unproven
        triggers:
          - match: ['alertname="Unproven"']
        verify:
          within: 3s
          resolved: false
          probe: { run: ['false'], every: 500ms, timeout: 5s }
        steps:
          - id: fix
            run: ['true']
            timeout: 5s
        """.write(to: runbooks.appendingPathComponent("unproven.yaml"), atomically: true, encoding: .utf8)
        let audit = directory.appendingPathComponent("audit.db").path
        let first = try await ServeCommandTests.Server(["--runbooks", runbooks.path, "--audit", audit], in: directory)
        let alert = #"{"alerts":[{"status":"firing","labels":{"alertname":"Unproven","instance":"db1"}}]}"#
        #expect(try await first.request("/v1/alerts/alertmanager", body: alert).0 == 202)
        var pending = false
        for _ in 0..<200 where !pending {
            let (_, body) = try await first.request("/v1/runs?verification=pending", method: "GET")
            pending = body.contains("unproven")
            if !pending { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(pending, "the run never became pending: \(first.logText)")
        kill(first.process.processIdentifier, SIGKILL)
        first.process.waitUntilExit()
        // The deadline passes while no Medic runs.
        try await Task.sleep(for: .seconds(4))
        let second = try await ServeCommandTests.Server(["--runbooks", runbooks.path, "--audit", audit], in: directory)
        var unverified = false
        for _ in 0..<200 where !unverified {
            let (_, body) = try await second.request("/v1/runs?verification=unverified", method: "GET")
            unverified = body.contains("unproven")
            if !unverified { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(unverified, "not decided after the restart: \(second.logText)")
        #expect(second.stop() == 0)
        let third = try await ServeCommandTests.Server(["--runbooks", runbooks.path, "--audit", audit], in: directory)
        try await Task.sleep(for: .milliseconds(500))
        #expect(third.stop() == 0)
        let records = try ValidateCommandTests.medicSync(["audit", "export", "--audit", audit, "--kind", "run.unverified"])
        #expect(records.stdout.split(separator: "\n").count == 1, "\(records.stdout)")
        #expect(try ValidateCommandTests.medicSync(["audit", "verify", "--audit", audit]).status == 0)
        let stats = try ValidateCommandTests.medicSync(["audit", "stats", "--audit", audit, "--format", "json"]).stdout
        let parsed = try JSONSerialization.jsonObject(with: Data(stats.utf8)) as? [String: Any]
        let entry = (parsed?["runbooks"] as? [[String: Any]])?.first
        #expect(entry?["unverified"] as? Int == 1 && entry?["verified_rate"] as? Double == 0, "\(stats)")
    }
}
