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

    @Test("serve: alerts run runbooks, a broken reload keeps the old set, SIGHUP reloads, SIGTERM stops cleanly")
    func serve() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("medic-serve-\(UUID())")
        let runbooks = directory.appendingPathComponent("runbooks")
        try FileManager.default.createDirectory(at: runbooks, withIntermediateDirectories: true)
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
        let port = Int.random(in: 20_000...40_000)
        let base = URL(string: "http://127.0.0.1:\(port)")!
        let process = Process()
        process.executableURL = ValidateCommandTests.binary
        process.arguments = [
            "serve", "--listen", "127.0.0.1:\(port)", "--runbooks", runbooks.path, "--audit",
            directory.appendingPathComponent("audit.db").path,
        ]
        let log = directory.appendingPathComponent("serve.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: log)
        process.standardError = process.standardOutput
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        var healthy = false
        for _ in 0..<100 where !healthy {
            healthy = (try? await Self.request(base.appendingPathComponent("healthz"), method: "GET"))?.0 == 200
            if !healthy { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(healthy, "\((try? String(contentsOf: log, encoding: .utf8)) ?? "")")

        func alert(_ startsAt: String) -> String {
            #"{"alerts":[{"status":"firing","labels":{"alertname":"Down","instance":"db1"},"startsAt":"\#(startsAt)"}]}"#
        }
        let (status, _) = try await Self.request(
            base.appendingPathComponent("v1/alerts/alertmanager"), body: alert("2026-11-25T10:00:00Z"))
        #expect(status == 202)

        try "runbook: broken\nsteps:\n  - id: a\n    retires: 1\n".write(
            to: runbooks.appendingPathComponent("broken.yaml"), atomically: true, encoding: .utf8)
        let (rejected, body) = try await Self.request(base.appendingPathComponent("-/reload"))
        #expect(rejected == 422)
        #expect(body.contains("did you mean 'retry'?"))
        let (still, _) = try await Self.request(
            base.appendingPathComponent("v1/alerts/alertmanager"), body: alert("2026-11-25T11:00:00Z"))
        #expect(still == 202)
        for _ in 0..<100 {
            if let text = try? String(contentsOfFile: marker, encoding: .utf8), text.split(separator: "\n").count == 2 {
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "fixed db1\nfixed db1\n")

        let (listed, runsBody) = try await Self.request(base.appendingPathComponent("v1/runs"), method: "GET")
        #expect(listed == 200)
        let runs = try #require(try JSONSerialization.jsonObject(with: Data(runsBody.utf8)) as? [[String: Any]])
        #expect(runs.count == 2)
        let runID = try #require(runs.first?["id"] as? String)
        let (shown, runBody) = try await Self.request(base.appendingPathComponent("v1/runs/\(runID)"), method: "GET")
        #expect(shown == 200)
        let run = try #require(try JSONSerialization.jsonObject(with: Data(runBody.utf8)) as? [String: Any])
        let timeline = try #require(run["timeline"] as? [[String: Any]])
        #expect(timeline.contains { $0["kind"] as? String == "run.finished" })
        #expect(runBody.contains("\"timed_out\":false"))
        #expect(try await Self.request(base.appendingPathComponent("v1/runs/nope"), method: "GET").0 == 404)
        for query in ["limit=abc", "since=yesterday", "runbok=x"] {
            let (bad, message) = try await Self.request(URL(string: "\(base)/v1/runs?\(query)")!, method: "GET")
            #expect(bad == 400, "\(query)")
            #expect(message.contains("error"))
        }

        try FileManager.default.removeItem(at: runbooks.appendingPathComponent("broken.yaml"))
        kill(process.processIdentifier, SIGHUP)
        for _ in 0..<50 {
            if (try? String(contentsOf: log, encoding: .utf8))?.contains("reloaded 1 runbooks") == true { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(try String(contentsOf: log, encoding: .utf8).contains("reloaded 1 runbooks"))

        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    @Test("SIGTERM during a run: intake stops, the run gets its grace period, then is torn down and recorded")
    func sigtermDuringRun() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("medic-serve-\(UUID())")
        let runbooks = directory.appendingPathComponent("runbooks")
        try FileManager.default.createDirectory(at: runbooks, withIntermediateDirectories: true)
        try
            "runbook: slow\ntriggers:\n  - match: ['alertname=\"Slow\"']\nsteps:\n  - id: wait\n    run: [sleep, '30']\n    timeout: 1m\n"
            .write(to: runbooks.appendingPathComponent("slow.yaml"), atomically: true, encoding: .utf8)
        let audit = directory.appendingPathComponent("audit.db").path
        let port = Int.random(in: 20_000...40_000)
        let base = URL(string: "http://127.0.0.1:\(port)")!
        let process = Process()
        process.executableURL = ValidateCommandTests.binary
        process.arguments = [
            "serve", "--listen", "127.0.0.1:\(port)", "--runbooks", runbooks.path, "--audit", audit, "--shutdown-grace",
            "500ms",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        for _ in 0..<100 {
            if (try? await Self.request(base.appendingPathComponent("healthz"), method: "GET"))?.0 == 200 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let (status, _) = try await Self.request(
            base.appendingPathComponent("v1/alerts"), body: #"{"labels":{"alertname":"Slow"}}"#)
        #expect(status == 202)
        try await Task.sleep(for: .milliseconds(300))
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let list = try ValidateCommandTests.medicSync(["audit", "list", "--audit", audit, "--format", "json"])
        let runs = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(runs.first?["outcome"] as? String == "cancelled")
        #expect(try ValidateCommandTests.medicSync(["audit", "verify", "--audit", audit]).status == 0)
    }
}
