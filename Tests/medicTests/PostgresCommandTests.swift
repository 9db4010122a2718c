import Foundation
import MedicCore
import MedicStore
import MedicTestSupport
import Testing

/// The audit commands against a real PostgreSQL store (the test process's private cluster), and moving a SQLite
/// history over with `medic audit migrate`.
@Suite struct PostgresCommandTests {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appending(path: "medic-pg-cli-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// `medic ARGS` to completion on a thread of its own, so waiting for it holds none of the async runtime's
    /// few threads (other suites' timers and servers need them).
    func medic(_ arguments: [String]) async throws -> ValidateCommandTests.Result {
        try await PostgresServer.blocking { try ValidateCommandTests.medicSync(arguments) }
    }

    /// A SQLite history with runs, a prune checkpoint, and records whose bodies need escaping.
    func history(records: Int) async throws -> (path: String, head: AuditHead) {
        let path = directory.appending(path: "audit.db").path
        let log = try SQLiteAuditLog(path: path)
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        var batch: [AuditEvent] = []
        for index in 0..<records {
            let time = start.addingTimeInterval(Double(index))
            let run = "run-\(index / 10)"
            switch index % 10 {
            case 0:
                batch.append(
                    AuditEvent(
                        time: time, kind: .runStarted, runID: run,
                        body: [
                            "runbook": "disk", "initiator": "alert",
                            "alert": ["labels": ["alertname": .string("Disk\"\n\u{1}ü")]],
                        ]))
            case 9:
                batch.append(AuditEvent(time: time, kind: .runFinished, runID: run, body: ["outcome": "succeeded"]))
            default:
                batch.append(
                    AuditEvent(
                        time: time, kind: .attemptFinished, runID: run,
                        body: ["step": "s", "exit_code": JSONValue(index % 7), "output": .string("line \(index)\t✓")]))
            }
            if batch.count == 1_000 {
                try await log.append(batch: batch)
                batch = []
            }
        }
        try await log.append(batch: batch)
        // A pruned start: the copy must verify against the checkpoint too.
        _ = try await log.prune(before: RFC3339.format(start.addingTimeInterval(20)), now: start.addingTimeInterval(Double(records)))
        return (path, try #require(try log.head()))
    }

    /// 3,000 records in `swift test`; `.ci/run` runs this test again on its own with
    /// `MEDIC_MIGRATE_RECORDS=100000` (the issue's size), where it does not slow every other test down.
    static let migrateRecords = ProcessInfo.processInfo.environment["MEDIC_MIGRATE_RECORDS"].flatMap(Int.init) ?? 3_000

    @Test("audit migrate copies a SQLite history (3,000 records; 100,000 in .ci/run) into an empty PostgreSQL store, verified; a second time it refuses")
    func migrate() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await PostgresServer.shared()
        let url = try await server.makeDatabase()
        let records = Self.migrateRecords
        let (path, head) = try await history(records: records)
        let copied = try await medic(["audit", "migrate", "--audit", path, "--to", url])
        #expect(copied.status == 0, "\(copied.stderr)")
        #expect(copied.stdout.contains("copied \(records - 19) records"), "\(copied.stdout)")
        #expect(copied.stdout.contains("verified, head \(head)"), "\(copied.stdout)")
        #expect(!copied.stdout.contains(server.password), "the password is never printed")
        let verify = try await medic([
            "audit", "verify", "--audit", url, "--expect-head", head.description,
        ])
        #expect(verify.status == 0, "\(verify.stderr)")
        // The same history reads the same from both stores.
        for arguments in [["audit", "list", "--limit", "500", "--format", "json"], ["audit", "stats", "--format", "json"]] {
            let fromSQLite = try await medic(arguments + ["--audit", path])
            let fromPostgres = try await medic(arguments + ["--audit", url])
            #expect(fromSQLite.status == 0 && fromPostgres.status == 0, "\(fromPostgres.stderr)")
            #expect(fromSQLite.stdout == fromPostgres.stdout)
        }
        let export = try await medic(["audit", "export", "--audit", url, "--run", "run-42"])
        let original = try await medic(["audit", "export", "--audit", path, "--run", "run-42"])
        // The whole history, byte for byte, as JSON Lines (what scripts/verify-audit-export.py checks).
        let all = try await medic(["audit", "export", "--audit", url])
        let allOriginal = try await medic(["audit", "export", "--audit", path])
        #expect(all.stdout == allOriginal.stdout && all.stdout.split(separator: "\n").count == records - 19)
        #expect(export.stdout == original.stdout && export.stdout.split(separator: "\n").count == 10)
        let again = try await medic(["audit", "migrate", "--audit", path, "--to", url])
        #expect(again.status != 0)
        #expect(again.stderr.contains("already holds \(records - 19) audit records"), "\(again.stderr)")
    }

    @Test("a wrong password, a missing database and a bad URL are refused with PostgreSQL's reason, password hidden")
    func refusals() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await PostgresServer.shared()
        let url = try await server.makeDatabase()
        let wrong = url.replacingOccurrences(of: server.password, with: "not-the-password")
        let refused = try await medic(["audit", "list", "--audit", wrong])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("password authentication failed"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("not-the-password"))
        let missing = try await medic([
            "audit", "list", "--audit", server.url(database: "nosuchdb"),
        ])
        #expect(missing.stderr.contains("database \"nosuchdb\" does not exist"), "\(missing.stderr)")
        let bad = try await medic(["audit", "list", "--audit", "postgres://u@h:99999/db"])
        #expect(bad.stderr.contains("the port is not a number from 1 to 65535"), "\(bad.stderr)")
        let leaky = try await medic(["audit", "list", "--audit", "postgres://u:pa/ss@h/db"])
        // An unescaped '/' in the password splits the URL early: no part of the password is printed.
        #expect(leaky.status != 0)
        #expect(!leaky.stderr.contains("'pa'") && !leaky.stderr.contains("ss@"), "\(leaky.stderr)")
        #expect(leaky.stderr.contains("must be %-escaped"), "\(leaky.stderr)")
    }

    @Test("a database whose Medic schema is newer than this build is refused, and left as it was")
    func newerSchema() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await PostgresServer.shared()
        let url = try await server.makeDatabase()
        let first = try await medic(["audit", "list", "--audit", url])
        #expect(first.status == 0, "\(first.stderr)")
        let database = String(url.split(separator: "/").last!.split(separator: "?").first!)
        try await PostgresServer.blocking {
            try server.psql(
                "INSERT INTO medic_schema_version (version, description) VALUES (99, 'from the future')", database: database)
        }
        let refused = try await medic(["audit", "list", "--audit", url])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("schema is version 99, newer than this Medic knows"), "\(refused.stderr)")
    }
}
