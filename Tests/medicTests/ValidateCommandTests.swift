import Foundation
import MedicCore
import MedicStore
import Testing

/// Runs the real `medic` binary, as a user or a CI script would, and checks output and exit codes.
@Suite struct ValidateCommandTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The `medic` executable built next to this test bundle.
    static var binary: URL {
        let candidates = [
            Bundle.main.executableURL?.deletingLastPathComponent(),
            Bundle(for: Marker.self).bundleURL.deletingLastPathComponent(),
        ].compactMap { $0 }
        for directory in candidates {
            let url = directory.appendingPathComponent("medic")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return packageRoot.appendingPathComponent(".build/debug/medic")
    }

    final class Marker {}

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func medicSync(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.currentDirectoryURL = packageRoot
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("medic-cli-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let outURL = directory.appendingPathComponent("out")
        let errURL = directory.appendingPathComponent("err")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: try String(contentsOf: outURL, encoding: .utf8),
            stderr: try String(contentsOf: errURL, encoding: .utf8))
    }

    @Test("the shipped runbooks validate: exit 0")
    func shippedRunbooks() throws {
        let result = try Self.medicSync(["validate", "runbooks/"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("ok: 6 runbooks valid"))
    }

    @Test("a broken runbook: every error on stderr with file:line:col, exit 1")
    func brokenRunbook() throws {
        let result = try Self.medicSync(["validate", "examples/broken-runbook.yaml"])
        #expect(result.status == 1)
        #expect(
            result.stderr.contains(
                "examples/broken-runbook.yaml:14:5: error: unknown key 'retires' in step; did you mean 'retry'? [unknown-key]\n    retires: 3\n    ^~~~~~~\n"
            ))
        #expect(result.stderr.contains("examples/broken-runbook.yaml:7:15: error:"))
        #expect(result.stderr.contains("medic: 5 errors, 1 warning in 1 file"))
    }

    @Test("--format json prints files and diagnostics with the documented fields")
    func json() throws {
        let result = try Self.medicSync(["validate", "--format", "json", "examples/broken-runbook.yaml", "runbooks"])
        #expect(result.status == 1)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(report["files"] as? Int == 7)
        let diagnostics = try #require(report["diagnostics"] as? [[String: Any]])
        #expect(diagnostics.count == 6)
        let first = try #require(diagnostics.first { $0["id"] as? String == "unknown-key" })
        #expect(first["file"] as? String == "examples/broken-runbook.yaml")
        #expect(first["line"] as? Int == 14)
        #expect(first["column"] as? Int == 5)
        #expect(first["severity"] as? String == "error")
        #expect((first["message"] as? String)?.contains("retry") == true)
    }

    @Test(
        "usage errors exit 64",
        arguments: [
            ["validate"], ["validate", "/no/such/path.yaml"], ["validate", "--format", "xml", "runbooks"],
            ["frobnicate"],
            ["plan", "examples/hello.yaml", "--ssh-config", "/no/such/ssh_config"],
            ["run", "examples/hello.yaml", "--ssh-config", "/no/such/ssh_config"],
        ])
    func usage(arguments: [String]) throws {
        let result = try Self.medicSync(arguments)
        #expect(result.status == 64, "\(arguments): \(result.stderr)")
    }

    @Test("--strict turns warnings into failure; --quiet hides them")
    func strictAndQuiet() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("medic-warn-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("no-trigger.yaml")
        try "runbook: manual\nsteps:\n  - id: a\n    run: [\"true\"]\n    timeout: 1s\n".write(
            to: file, atomically: true, encoding: .utf8)
        let plain = try Self.medicSync(["validate", file.path])
        #expect(plain.status == 0)
        #expect(plain.stderr.contains("warning: runbook has no triggers"))
        #expect(try Self.medicSync(["validate", "--strict", file.path]).status == 1)
        #expect(try Self.medicSync(["validate", "--quiet", file.path]).stderr.isEmpty)
    }

    @Test("medic schema prints the committed JSON Schema")
    func schema() throws {
        let result = try Self.medicSync(["schema"])
        #expect(result.status == 0)
        let committed = try String(
            contentsOf: Self.packageRoot.appendingPathComponent("docs/runbook.schema.json"), encoding: .utf8)
        #expect(result.stdout == committed)
    }
}

@Suite struct MatchCommandTests {
    @Test("medic match explains a payload against the shipped runbooks, in text and JSON")
    func match() throws {
        let fixture = ValidateCommandTests.packageRoot.deletingLastPathComponent()
            .appendingPathComponent(
                "shared/fixtures/alerts/01-kubesphere-notification-manager-KubePodCrashLooping.json"
            ).path
        let text = try ValidateCommandTests.medicSync(["match", "--runbooks", "runbooks", fixture])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("RUN        kube-pod-crash-looping (trigger 1)"))
        #expect(text.stdout.contains("namespace=pp1"))
        let json = try ValidateCommandTests.medicSync(["match", "--runbooks", "runbooks", "--format", "json", fixture])
        let root = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let alerts = try #require(root["alerts"] as? [[String: Any]])
        #expect(alerts.first?["fingerprint"] as? String == "a4c6c4f7a49ca0ae")
        let matches = try #require(alerts.first?["matches"] as? [[String: Any]])
        #expect(matches.first?["decision"] as? String == "run")
        for key in ["runbook", "trigger", "decision", "reason", "params"] { #expect(matches.first?[key] != nil) }
        #expect(alerts.first?["near_misses"] is [Any])
    }

    @Test(
        "medic match --audit applies the history: a recent run puts the same key in cooldown; breaker reset is recorded"
    )
    func statefulMatch() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("medic-match-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let audit = directory.appendingPathComponent("audit.db").path
        let payload = directory.appendingPathComponent("alert.json")
        let labels =
            #"{"alertname":"NodeFilesystemSpaceFillingUp","severity":"critical","instance":"db1:9100","mountpoint":"/var","fstype":"ext4"}"#
        try #"{"alerts":[{"status":"firing","labels":\#(labels),"startsAt":"2026-11-25T10:00:00Z"}]}"#.write(
            to: payload, atomically: true, encoding: .utf8)
        let log = try SQLiteAuditLog(path: audit)
        try await log.append(
            AuditEvent(
                time: Date().addingTimeInterval(-60), kind: .decisionRun, runID: "earlier",
                body: [
                    "runbook": "node-filesystem-space-filling-up", "group_key": "instance=db1:9100,mountpoint=/var",
                    "fingerprint": "0000000000000000", "lock_key": "host:db1:9100",
                    "starts_at": "2026-11-25T09:00:00.000Z",
                ]))
        let stateless = try ValidateCommandTests.medicSync(["match", "--runbooks", "runbooks", payload.path])
        #expect(stateless.stdout.contains("RUN        node-filesystem-space-filling-up"))
        let stateful = try ValidateCommandTests.medicSync([
            "match", "--runbooks", "runbooks", "--audit", audit, payload.path,
        ])
        #expect(stateful.status == 0, "\(stateful.stderr)")
        #expect(
            stateful.stdout.contains(
                "SUPPRESSED node-filesystem-space-filling-up (trigger 1): cooldown for instance=db1:9100,mountpoint=/var until"
            ), "\(stateful.stdout)")

        let reset = try ValidateCommandTests.medicSync([
            "breaker", "reset", "node-filesystem-space-filling-up", "instance=db1:9100,mountpoint=/var", "--audit",
            audit,
        ])
        #expect(reset.status == 0, "\(reset.stderr)")
        var kinds: [String] = []
        try log.forEachRecord { kinds.append($0.kind) }
        #expect(kinds == ["decision.run", "breaker.reset"])
    }
}
