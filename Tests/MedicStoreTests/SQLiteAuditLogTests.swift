import Foundation
import MedicCore
import MedicExecution
import MedicStore
import Testing

/// A real database file, tampered with through the real sqlite3 CLI.
@Suite struct SQLiteAuditLogTests {
    let directory: URL
    var path: String { directory.appendingPathComponent("audit.db").path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("medic-audit-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func filled(_ count: Int = 20) async throws -> SQLiteAuditLog {
        let log = try SQLiteAuditLog(path: path)
        for index in 0..<count {
            try await log.append(
                AuditEvent(
                    time: Date(timeIntervalSince1970: 1_800_000_000 + Double(index)), kind: .stepSkipped,
                    runID: "r\(index % 3)",
                    body: ["index": JSONValue(index), "text": .string("line \(index)\n\"quoted\" ü \u{08}")]))
        }
        return log
    }

    /// Runs SQL through the sqlite3 command-line tool, as an attacker with file access would.
    func sqlite(_ sql: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["sqlite3", path, sql]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        process.waitUntilExit()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "sqlite3 failed: \(message)")
    }

    @Test("an untouched chain verifies, and its head is the last record")
    func intact() async throws {
        let log = try await filled()
        let result = try log.verify()
        #expect(result.intact)
        #expect(result.records == 20)
        #expect(result.head?.seq == 20)
        #expect(try log.head()?.hash == result.head?.hash)
    }

    @Test("UPDATE and DELETE are refused by the database itself")
    func appendOnly() async throws {
        _ = try await filled(3)
        for sql in ["UPDATE audit_record SET kind = 'x' WHERE seq = 2", "DELETE FROM audit_record WHERE seq = 2"] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["sqlite3", path, sql]
            let errors = Pipe()
            process.standardError = errors
            try process.run()
            process.waitUntilExit()
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(process.terminationStatus != 0)
            #expect(message.contains("append-only"))
        }
    }

    @Test("a byte changed with sqlite3 (after dropping the trigger) is reported at its sequence number")
    func changedByte() async throws {
        _ = try await filled()
        try sqlite(
            "DROP TRIGGER audit_record_append_only_update; UPDATE audit_record SET body = replace(body, 'line 13', 'line 14') WHERE seq = 14;"
        )
        let result = try SQLiteAuditLog(path: path).verify()
        #expect(!result.intact)
        guard case .contentChanged(let seq, _, _) = result.problem else {
            Issue.record("expected a content change, got \(String(describing: result.problem))")
            return
        }
        #expect(seq == 14)
    }

    @Test("a rehashed record is still caught by the next record's link")
    func rehashed() async throws {
        let log = try await filled()
        // The attacker recomputes record 7's hash after editing it; record 8 still links to the old hash.
        var found: AuditRecord?
        try log.forEachRecord { if $0.seq == 7 { found = $0 } }
        let original = try #require(found)
        let edited = original.body.replacingOccurrences(of: "line 6", with: "line 9")
        let hash = SQLiteAuditLog.hash(
            prevHash: original.prevHash,
            canonical: AuditRecord.canonical(
                seq: 7, time: original.time, kind: original.kind, runID: original.runID, body: edited))
        try sqlite(
            "DROP TRIGGER audit_record_append_only_update; UPDATE audit_record SET body = '\(edited.replacingOccurrences(of: "'", with: "''"))', hash = '\(hash)' WHERE seq = 7;"
        )
        let result = try SQLiteAuditLog(path: path).verify()
        #expect(result.problem == .brokenLink(seq: 8, prevHash: original.hash, expected: hash))
    }

    @Test("a deleted middle record is detected")
    func deletedMiddle() async throws {
        _ = try await filled()
        try sqlite("DROP TRIGGER audit_record_append_only_delete; DELETE FROM audit_record WHERE seq = 9;")
        let result = try SQLiteAuditLog(path: path).verify()
        #expect(result.problem == .missingRecords(after: 8, next: 10))
        #expect(result.problem?.seq == 9)
    }

    @Test("a truncated tail is detected against an anchored head")
    func truncatedTail() async throws {
        let log = try await filled()
        let head = try #require(try log.verify().head)
        try sqlite("DROP TRIGGER audit_record_append_only_delete; DELETE FROM audit_record WHERE seq > 17;")
        let reopened = try SQLiteAuditLog(path: path)
        #expect(try reopened.verify().intact, "a cut tail looks intact on its own")
        let anchored = try reopened.verify(expectHead: head)
        #expect(anchored.problem == .truncated(expected: head, last: 17))
    }

    @Test("an export re-verifies with the independent Python script, and catches an edit")
    func exportReverifies() async throws {
        let log = try await filled()
        let export = directory.appendingPathComponent("export.jsonl")
        var text = ""
        try log.forEachRecord { text += $0.exportLine + "\n" }
        try text.write(to: export, atomically: true, encoding: .utf8)
        let script = Fixtures.packageRoot.appendingPathComponent("scripts/verify-audit-export.py").path
        func verify() throws -> (Int32, String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", script, export.path]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            process.waitUntilExit()
            return (
                process.terminationStatus,
                String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            )
        }
        let (status, output) = try verify()
        #expect(status == 0, "\(output)")
        #expect(output.contains("ok: 20 records, head 20:\(try log.head()!.hash)"))
        try text.replacingOccurrences(of: "line 5\\n", with: "line 6\\n").write(
            to: export, atomically: true, encoding: .utf8)
        let (tampered, message) = try verify()
        #expect(tampered == 1)
        #expect(message.contains("record 6"))
    }

    @Test("a secret param value appears nowhere in the database file")
    func secretNeverStored() async throws {
        let secret = "s3cr3t-\(UUID().uuidString)"
        let text = """
            runbook: secretive
            params:
              token: { type: string, from: env.MEDIC_TEST_TOKEN, secret: true }
            steps:
              - id: use
                shell: echo "using $TOKEN"; echo "$TOKEN" >&2
                env: { TOKEN: '{{ params.token }}' }
                timeout: 5s
              - id: argv
                run: [echo, '--token={{ params.token }}']
                timeout: 5s
              - id: fail
                run: [sh, -c, 'echo "$0 failed"; exit 3', '{{ params.token }}']
                timeout: 5s
            """
        let runbook = try #require(RunbookSource.check(data: Data(text.utf8), path: "s.yaml").runbook)
        let prepared = try PreparedRun.prepare(
            runbook, runID: "secret-run", given: [:], alert: nil,
            environment: ["MEDIC_TEST_TOKEN": secret, "PATH": "/usr/bin:/bin"]
        ).get()
        let log = try SQLiteAuditLog(path: path)
        let report = try await Executor(audit: log).run(prepared)
        #expect(report.outcome == .failed)
        var bytes = Data()
        for suffix in ["", "-wal", "-shm"] {
            bytes.append(FileManager.default.contents(atPath: path + suffix) ?? Data())
        }
        #expect(bytes.count > 0)
        #expect(bytes.range(of: Data(secret.utf8)) == nil, "the secret reached the database file")
        #expect(try log.records(run: "secret-run").contains { $0.body.contains("***") })
    }

    @Test("a run whose Medic process is gone is closed as interrupted on the next open; a live one is not")
    func interrupted() async throws {
        let log = try SQLiteAuditLog(path: path)
        try await log.append(
            AuditEvent(
                time: Date(), kind: .runStarted, runID: "mine", body: ["runbook": "x", "initiator": "operator"]))
        // A run of this (live) process is left alone.
        #expect(try SQLiteAuditLog(path: path).markInterruptedRuns() == .init())
        // Pretend another process, now dead, started a run.
        try sqlite(
            "INSERT INTO run (id, runbook, started_at, owner_host, owner_pid, owner_start) VALUES ('orphan', 'x', '2026-01-01T00:00:00.000Z', '\(ProcessInfo.processInfo.hostName)', 999999, '1')"
        )
        let marked = try SQLiteAuditLog(path: path).markInterruptedRuns().interrupted
        #expect(marked == ["orphan"])
        let runs = try log.runs(RunFilter())
        #expect(runs.first { $0.id == "orphan" }?.outcome == "interrupted")
        #expect(runs.first { $0.id == "mine" }?.outcome == nil)
        #expect(try log.verify().intact)
    }

    @Test("a dead run that asks for on_interrupt: rollback waits for a recovering opener, which claims it once")
    func interruptedWithRollback() async throws {
        let log = try SQLiteAuditLog(path: path)
        try await log.append(
            AuditEvent(
                time: Date(), kind: .runStarted, runID: "undo-me",
                body: ["runbook": "x", "initiator": "alert", "on_interrupt": "rollback"]))
        try await log.append(
            AuditEvent(time: Date(), kind: .runStarted, runID: "plain", body: ["runbook": "y", "initiator": "alert"]))
        try sqlite(
            "UPDATE run SET owner_pid = 999999, owner_start = '1', owner_host = '\(ProcessInfo.processInfo.hostName)'")
        // `medic audit list` and friends leave it for medic serve; the plain one is closed at once.
        #expect(try log.markInterruptedRuns() == .init(interrupted: ["plain"]))
        #expect(try log.runs(RunFilter()).first { $0.id == "undo-me" }?.outcome == nil)
        // The recovering opener claims it; after the claim this live process owns it, so nobody claims it again.
        #expect(try log.markInterruptedRuns(recovering: true) == .init(recovering: ["undo-me"]))
        #expect(try SQLiteAuditLog(path: path).markInterruptedRuns(recovering: true) == .init())
        #expect(try log.records(run: "undo-me").map(\.kind) == ["run.started", "run.recovering"])
        #expect(try log.verify().intact)
    }

    @Test("recovery is chosen from run.started's own field: an alert label spelled on_interrupt=rollback cannot choose it")
    func interruptLabelIsNotTheField() async throws {
        let log = try SQLiteAuditLog(path: path)
        let labels: JSONValue = ["alertname": "Down", "on_interrupt": "rollback", "x": #""on_interrupt":"rollback""#]
        try await log.append(
            AuditEvent(
                time: Date(), kind: .runStarted, runID: "hostile",
                body: [
                    "runbook": "x", "initiator": "alert",
                    "alert": ["fingerprint": "0123456789abcdef", "status": "firing", "labels": labels],
                    "params": ["note": #""on_interrupt":"rollback""#],
                ]))
        try sqlite(
            "UPDATE run SET owner_pid = 999999, owner_start = '1', owner_host = '\(ProcessInfo.processInfo.hostName)'")
        #expect(try log.markInterruptedRuns(recovering: true) == .init(interrupted: ["hostile"]))
        #expect(try log.verify().intact)
    }

    @Test("policy history: only the kinds a gate replays, and only since the cutoff")
    func policyHistorySince() async throws {
        let log = try SQLiteAuditLog(path: path)
        let old = Date(timeIntervalSince1970: 1_800_000_000)
        let recent = old.addingTimeInterval(7200)
        for (time, kind) in [
            (old, AuditKind.decisionRun), (old, .runFinished), (recent, .decisionRun), (recent, .attemptStarted),
            (recent, .alertReceived), (recent, .breakerReset), (recent, .runFinished),
        ] {
            try await log.append(AuditEvent(time: time, kind: kind, runID: "r", body: ["runbook": "x"]))
        }
        let history = try log.policyHistory(since: old.addingTimeInterval(3600))
        #expect(history.map(\.auditKind) == [.decisionRun, .breakerReset, .runFinished])
    }

    @Test("write-ahead under group commit: each step finds its own attempt.started already in the database")
    func writeAhead() async throws {
        let log = try SQLiteAuditLog(path: path)
        let query = "SELECT count(*) FROM audit_record WHERE kind = 'attempt.started'"
        let text = """
            runbook: wal
            steps:
              - id: first
                run: [sqlite3, '\(path)', "\(query)"]
                timeout: 10s
              - id: second
                run: [sqlite3, '\(path)', "\(query)"]
                timeout: 10s
            """
        let runbook = try #require(RunbookSource.check(data: Data(text.utf8), path: "wal.yaml").runbook)
        let prepared = try PreparedRun.prepare(
            runbook, runID: "wal-1", given: [:], alert: nil, environment: ProcessInfo.processInfo.environment
        ).get()
        let report = try await Executor(audit: log).run(prepared)
        #expect(report.outcome == .succeeded)
        #expect(report.steps.map { $0.attempts.first?.result.stdout } == ["1\n", "2\n"])
        #expect(try log.records(run: "wal-1").map(\.kind).suffix(2) == ["step.finished", "run.finished"])
        #expect(try log.verify().intact)
    }

    @Test("64 concurrent appenders share transactions: every record lands once, in each appender's order")
    func concurrentAppends() async throws {
        let log = try SQLiteAuditLog(path: path)
        await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<64 {
                group.addTask {
                    for index in 0..<25 {
                        try await log.append(
                            AuditEvent(
                                time: Date(), kind: .stepSkipped, runID: "w\(writer)",
                                body: ["index": JSONValue(index)]))
                    }
                }
            }
        }
        #expect(try log.count() == 64 * 25)
        for writer in [0, 17, 63] {
            let indexes = try log.records(run: "w\(writer)").map(\.body)
            #expect(indexes == (0..<25).map { #"{"index":\#($0)}"# })
        }
        #expect(try log.verify().intact)
    }

    @Test("prune removes old records and leaves a chain that still verifies; tampering after it is still caught")
    func prune() async throws {
        let log = try await filled()
        // Records 1...20 have times 1_800_000_000 + index; remove those before index 12.
        let before = RFC3339.format(Date(timeIntervalSince1970: 1_800_000_012))
        let result = try await log.prune(before: before)
        #expect(result.removed == 12)
        #expect(result.checkpoint?.seq == 12)
        let verification = try log.verify()
        #expect(verification.intact, "\(String(describing: verification.problem))")
        #expect(verification.records == 9)
        try sqlite("DROP TRIGGER audit_record_append_only_delete; DELETE FROM audit_record WHERE seq = 13;")
        #expect(try SQLiteAuditLog(path: path).verify().problem == .missingStart(first: 14))
    }
}

@Suite struct BodySignatureTests {
    @Test("HMAC-SHA256 signatures: RFC 4231 test case 2, round trip, and rejections")
    func signatures() {
        let signature = BodySignature(secret: "Jefe")
        let body = Data("what do ya want for nothing?".utf8)
        #expect(signature.sign(body) == "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(signature.verify(body: body, header: signature.sign(body)))
        #expect(
            signature.verify(
                body: body,
                header: signature.sign(body).uppercased().replacingOccurrences(of: "SHA256=", with: "sha256=")))
        #expect(!signature.verify(body: Data("tampered".utf8), header: signature.sign(body)))
        #expect(!signature.verify(body: body, header: "sha256=zz"))
        #expect(!signature.verify(body: body, header: "md5=00"))
    }
}
