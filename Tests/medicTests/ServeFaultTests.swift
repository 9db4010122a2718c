import Foundation
import MedicCore
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `medic serve` under faults injected on purpose (docs/safety.md, "Faults"): a full disk, kill -9 under
/// load, a runbook directory that changes while it is reloaded.
@Suite(.serialized) struct ServeFaultTests {
    typealias Server = ServeCommandTests.Server

    /// A scratch directory whose `runbooks/` holds one runbook no test alert matches (serve needs one).
    static func scratch() throws -> URL {
        let (directory, _) = try ServeCommandTests.scratch()
        try
            "runbook: idle\ntriggers:\n  - match: ['alertname=\"Never\"']\nsteps:\n  - id: s\n    run: [\"true\"]\n    timeout: 5s\n"
            .write(to: directory.appendingPathComponent("runbooks/idle.yaml"), atomically: true, encoding: .utf8)
        return directory
    }

    static func alert(_ name: String, instance: String) -> String {
        #"{"alerts":[{"status":"firing","labels":{"alertname":"\#(name)","instance":"\#(instance)"}}]}"#
    }

    /// The fingerprints in a 202 answer.
    static func fingerprints(_ body: String) -> [String] {
        let object = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
        return (object?["alerts"] as? [[String: Any]])?.compactMap { $0["fingerprint"] as? String } ?? []
    }

    /// The fingerprint in an exported `alert.received` record.
    static func fingerprint(_ record: [String: Any]) -> String? {
        (record["body"] as? [String: Any])?["fingerprint"] as? String
    }

    /// Every record of `kind` in the log, as exported JSON objects (`seq`, `kind`, `run_id`, `body`, ...).
    static func records(_ audit: String, kind: AuditKind) throws -> [[String: Any]] {
        let export = try ValidateCommandTests.medicSync(["audit", "export", "--audit", audit, "--kind", kind.rawValue])
        #expect(export.status == 0, "\(export.stderr)")
        return export.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    @Test("disk full while alerts arrive: 503 with Retry-After, nothing half-written, 202 again once space returns")
    func diskFull() async throws {
        let directory = try Self.scratch()
        let audit = directory.appendingPathComponent("audit.db").path
        // A file size limit stands in for a full disk: writes past it fail with EFBIG, as ENOSPC would.
        let server = try await Server(
            ["--runbooks", directory.appendingPathComponent("runbooks").path, "--audit", audit], in: directory,
            wrapper: ["/usr/bin/prlimit", "--fsize=400000:", "--"])
        defer { _ = server.stop() }
        var accepted: [String] = []
        var refused = 0
        for index in 0..<2_000 where refused < 3 {
            let (status, body) = try await server.request(
                "/v1/alerts/alertmanager", body: Self.alert("Full", instance: "host-\(index)"))
            if status == 202 {
                #expect(refused == 0, "accepted after the disk filled up, before space returned")
                accepted += Self.fingerprints(body)
            } else {
                #expect(status == 503, "\(body)")
                #expect(body.contains("could not record"))
                refused += 1
            }
        }
        #expect(refused == 3, "the limit was never reached")
        #expect(!accepted.isEmpty)
        #expect(try await server.request("/healthz", method: "GET").0 == 200)

        let raise = Process()
        raise.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
        raise.arguments = ["--pid", String(server.process.processIdentifier), "--fsize=unlimited:"]
        try raise.run()
        raise.waitUntilExit()
        #expect(raise.terminationStatus == 0)
        for index in 0..<3 {
            let (status, body) = try await server.request(
                "/v1/alerts/alertmanager", body: Self.alert("Full", instance: "after-\(index)"))
            #expect(status == 202, "\(body)")
            accepted += Self.fingerprints(body)
        }
        #expect(server.stop() == 0)

        #expect(try ValidateCommandTests.medicSync(["audit", "verify", "--audit", audit]).status == 0)
        let recorded = try Self.records(audit, kind: .alertReceived).compactMap(Self.fingerprint)
        #expect(recorded.sorted() == accepted.sorted(), "recorded exactly the accepted alerts, each once")
    }

    @Test(
        "kill -9 at random moments under load, then restart: the chain verifies, nothing accepted is lost, every run ends"
    )
    func killUnderLoad() async throws {
        let directory = try Self.scratch()
        let audit = directory.appendingPathComponent("audit.db").path
        let journal = directory.appendingPathComponent("journal").path
        try """
        runbook: load-fix
        params:
          host: { type: string, from: alert.labels.instance, pattern: '[a-z0-9-]+' }
        triggers:
          - match: ['alertname="Load"']
        steps:
          - id: fix
            run: [sh, -c, 'sleep 0.05; echo "$1" >> \(journal)', x, '{{ params.host }}']
            timeout: 5s
        """.write(
            to: directory.appendingPathComponent("runbooks/load.yaml"), atomically: true, encoding: .utf8)
        let arguments = ["--runbooks", directory.appendingPathComponent("runbooks").path, "--audit", audit]
        var accepted: [String] = []
        for round in 0..<3 {
            let server = try await Server(arguments, in: directory)
            let deadline = ContinuousClock.now + .milliseconds(Int.random(in: 150...700))
            // Eight posters in a bounded loop; the kill lands wherever they are.
            let answers = await withTaskGroup(of: [String].self) { group in
                for poster in 0..<8 {
                    group.addTask {
                        var mine: [String] = []
                        for index in 0..<400 where ContinuousClock.now < deadline + .seconds(2) {
                            guard
                                let (status, body) = try? await server.request(
                                    "/v1/alerts/alertmanager",
                                    body: Self.alert("Load", instance: "r\(round)-p\(poster)-\(index)"))
                            else { break }
                            if status == 202 { mine += Self.fingerprints(body) }
                        }
                        return mine
                    }
                }
                group.addTask {
                    try? await Task.sleep(until: deadline)
                    kill(server.process.processIdentifier, SIGKILL)
                    return []
                }
                var all: [String] = []
                for await part in group { all += part }
                return all
            }
            server.process.waitUntilExit()
            #expect(server.process.terminationReason == .uncaughtSignal)
            accepted += answers
        }
        #expect(!accepted.isEmpty)
        // The restart closes what the kills left open.
        let last = try await Server(arguments, in: directory)
        #expect(last.stop() == 0)

        let verify = try ValidateCommandTests.medicSync(["audit", "verify", "--audit", audit])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        let recorded = Set(try Self.records(audit, kind: .alertReceived).compactMap(Self.fingerprint))
        let lost = Set(accepted).subtracting(recorded)
        #expect(lost.isEmpty, "\(lost.count) of \(accepted.count) accepted alerts lost, \(recorded.count) recorded")
        let started = Set(try Self.records(audit, kind: .runStarted).compactMap { $0["run_id"] as? String })
        let finished = Set(try Self.records(audit, kind: .runFinished).compactMap { $0["run_id"] as? String })
        #expect(!started.isEmpty)
        #expect(started.subtracting(finished).isEmpty, "runs without an end record: \(started.subtracting(finished))")
    }

    @Test(
        "the runbook directory changes while it is reloaded: each reload loads a whole valid set or keeps the old one")
    func reloadDuringChanges() async throws {
        let directory = try Self.scratch()
        let runbooks = directory.appendingPathComponent("runbooks")
        func runbook(_ id: String, alertname: String) -> String {
            "runbook: \(id)\ntriggers:\n  - match: ['alertname=\"\(alertname)\"']\nsteps:\n  - id: s\n    run: [\"true\"]\n    timeout: 5s\n"
        }
        try runbook("base", alertname: "Base").write(
            to: runbooks.appendingPathComponent("base.yaml"), atomically: true, encoding: .utf8)
        let server = try await Server(
            ["--runbooks", runbooks.path, "--audit", directory.appendingPathComponent("audit.db").path], in: directory)
        defer { _ = server.stop() }
        let churn = Task.detached {
            for index in 0..<150 {
                let path = runbooks.appendingPathComponent("churn-\(index % 5).yaml").path
                switch index % 4 {
                case 0:
                    // Written in two pieces with a pause: a reload may read half a file.
                    let text = Data(runbook("churn-\(index % 5)", alertname: "Churn").utf8)
                    FileManager.default.createFile(atPath: path, contents: text.prefix(text.count / 2))
                    try? await Task.sleep(for: .milliseconds(3))
                    if let handle = FileHandle(forWritingAtPath: path) {
                        handle.seekToEndOfFile()
                        handle.write(text.suffix(from: text.count / 2))
                        try? handle.close()
                    }
                case 1: try? "runbook: broken\nsteps: [".write(toFile: path, atomically: false, encoding: .utf8)
                case 2: try? FileManager.default.removeItem(atPath: path)
                default:
                    try? runbook("other-\(index % 5)", alertname: "Churn").write(
                        toFile: path, atomically: true, encoding: .utf8)
                }
                try? await Task.sleep(for: .milliseconds(2))
            }
        }
        var loaded = 0
        var rejected = 0
        for index in 0..<60 {
            if index % 10 == 5 { kill(server.process.processIdentifier, SIGHUP) }
            let (status, body) = try await server.request("/-/reload")
            #expect(status == 200 || status == 422, "\(status) \(body)")
            if status == 200 { loaded += 1 } else { rejected += 1 }
            let (intake, _) = try await server.request(
                "/v1/alerts/alertmanager", body: Self.alert("Base", instance: "b\(index)"))
            #expect(intake == 202)
        }
        await churn.value
        #expect(loaded + rejected == 60)
        #expect(rejected > 0, "the churn never produced a broken set")

        // Settle on a known directory: exactly base and one more.
        for name in try FileManager.default.contentsOfDirectory(atPath: runbooks.path) where name != "base.yaml" {
            try FileManager.default.removeItem(at: runbooks.appendingPathComponent(name))
        }
        try runbook("late", alertname: "Late").write(
            to: runbooks.appendingPathComponent("late.yaml"), atomically: true, encoding: .utf8)
        let (status, body) = try await server.request("/-/reload")
        #expect(status == 200)
        #expect(body.contains("\"runbooks\": 2"), "\(body)")
        let (intake, decisions) = try await server.request(
            "/v1/alerts/alertmanager", body: Self.alert("Late", instance: "x"))
        #expect(intake == 202)
        #expect(decisions.contains("\"runbook\": \"late\""), "\(decisions)")
        #expect(server.stop() == 0)
    }
}
