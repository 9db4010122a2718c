import Foundation
import GRDB
import MedicCore

/// The durable audit log: an append-only, hash-chained table in a SQLite file (WAL mode).
///
/// Appends are serialised in `BEGIN IMMEDIATE` transactions (so several Medic processes on one file still
/// form one chain), committed before `append` returns. SQL triggers refuse UPDATE and DELETE on records.
/// A derived `run` table indexes runs for fast listing; it is not part of the chain.
public final class SQLiteAuditLog: AuditLog, Sendable {
    /// How hard a commit waits for the disk.
    public enum Durability: String, Sendable, CaseIterable {
        /// Survives a crash of Medic (WAL, synchronous=NORMAL).
        case normal
        /// Also survives power loss (synchronous=FULL), the default.
        case full
    }

    public let path: String
    let pool: DatabasePool
    /// Identifies this process as the owner of the runs it starts, so another process can tell which runs
    /// were abandoned (owner gone) and which are still going.
    package let owner: ProcessOwner
    /// Concurrent appends (many alerts at once, several runs) share transactions.
    private let committer: GroupCommit
    /// Where `reading` runs blocking reads, off the async runtime's threads (a serial queue has a thread of its own).
    let readQueue = DispatchQueue(label: "medic.audit.reads")

    /// Where commits are written.
    public enum Writer: Sendable {
        /// On a thread of the log's own, so the caller's threads never wait on the disk (a server).
        case background
        /// On the calling thread when no other commit is under way, saving a hand-off (a CLI run).
        case callerWhenIdle
    }

    public init(path: String, durability: Durability = .full, writer: Writer = .background) throws {
        self.path = path
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(durability == .full ? "FULL" : "NORMAL")")
        }
        // Several Medic processes may open (and so create and migrate) the same file at once: they take turns
        // under an exclusive lock on a sidecar file. Switching to WAL also takes a lock SQLite's busy handler
        // does not wait for, so opening is retried (bounded) while another process holds it.
        let lock = open(path + ".lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        if lock >= 0 { flock(lock, LOCK_EX) }
        defer {
            if lock >= 0 {
                flock(lock, LOCK_UN)
                Glibc.close(lock)
            }
        }
        var attempt = 0
        while true {
            do {
                let opened = try DatabasePool(path: path, configuration: configuration)
                try Self.migrator.migrate(opened)
                pool = opened
                break
            } catch let error as DatabaseError
                where error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED
            {
                attempt += 1
                if attempt >= 100 { throw error }
                usleep(useconds_t(20_000 + Int.random(in: 0...30_000)))
            }
        }
        let owner = ProcessOwner.current
        self.owner = owner
        let pool = self.pool
        committer = GroupCommit(inlineWhenIdle: writer == .callerWhenIdle) { events in
            try Self.commit(events, pool: pool, owner: owner)
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: records, run index, append-only triggers") { db in
            try db.execute(
                sql: """
                    CREATE TABLE audit_record (
                        seq INTEGER PRIMARY KEY,
                        time TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        run_id TEXT,
                        body TEXT NOT NULL,
                        prev_hash TEXT NOT NULL,
                        hash TEXT NOT NULL
                    );
                    CREATE INDEX audit_record_by_run ON audit_record(run_id, seq);
                    CREATE INDEX audit_record_by_kind ON audit_record(kind, seq);
                    CREATE TRIGGER audit_record_append_only_update BEFORE UPDATE ON audit_record
                    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
                    CREATE TRIGGER audit_record_append_only_delete BEFORE DELETE ON audit_record
                    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
                    CREATE TABLE run (
                        id TEXT PRIMARY KEY,
                        runbook TEXT NOT NULL,
                        started_at TEXT NOT NULL,
                        finished_at TEXT,
                        duration_ms INTEGER,
                        outcome TEXT,
                        initiator TEXT,
                        alertname TEXT,
                        fingerprint TEXT,
                        owner_host TEXT,
                        owner_pid INTEGER,
                        owner_start TEXT
                    );
                    CREATE INDEX run_by_start ON run(started_at);
                    CREATE INDEX run_unfinished ON run(finished_at) WHERE finished_at IS NULL;
                    """)
        }
        migrator.registerMigration("v2: run index by runbook and outcome") { db in
            try db.execute(
                sql: """
                    CREATE INDEX run_by_runbook ON run(runbook, started_at);
                    CREATE INDEX run_by_outcome ON run(outcome, runbook, duration_ms);
                    """)
        }
        migrator.registerMigration("v3: run verification") { db in
            try db.execute(
                sql: """
                    ALTER TABLE run ADD COLUMN verification TEXT;
                    ALTER TABLE run ADD COLUMN resolve_ms INTEGER;
                    CREATE INDEX run_by_verification ON run(verification, runbook);
                    """)
        }
        return migrator
    }

    // MARK: Appending

    public func append(_ event: AuditEvent) async throws {
        try await append(batch: [event])
    }

    /// Appends events in one transaction (shared with concurrent callers'): all are committed, or none.
    public func append(batch events: [AuditEvent]) async throws {
        try await committer.append(events)
    }

    /// Commits `events` in one `BEGIN IMMEDIATE` transaction, synchronously: GRDB's async write gives up
    /// when the calling task is cancelled, and the records of a run being torn down (during shutdown, say)
    /// are exactly the ones that must be written.
    static func commit(_ events: [AuditEvent], pool: DatabasePool, owner: ProcessOwner) throws {
        try pool.writeWithoutTransaction { db in
            try db.inTransaction(.immediate) {
                try Self.append(events, owner: owner, db: db)
                return .commit
            }
        }
    }

    /// Chains and inserts `events` inside the caller's transaction.
    static func append(_ events: [AuditEvent], owner: ProcessOwner, db: Database) throws {
        var (seq, prev) = try Self.lastLink(db)
        // Prepared once per connection and reused: compiling the SQL cost more than inserting the row.
        let insert = try db.cachedStatement(
            sql:
                "INSERT INTO audit_record (seq, time, kind, run_id, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        for event in events {
            seq += 1
            let record = Self.chain(event, seq: seq, prevHash: prev)
            try insert.execute(arguments: [
                record.seq, record.time, record.kind, record.runID, record.body, record.prevHash, record.hash,
            ])
            try Self.index(event, record: record, owner: owner, db: db)
            prev = record.hash
        }
    }

    static func lastLink(_ db: Database) throws -> (Int64, String) {
        let last = try db.cachedStatement(sql: "SELECT seq, hash FROM audit_record ORDER BY seq DESC LIMIT 1")
        if let row = try Row.fetchOne(last) {
            return (row["seq"], row["hash"])
        }
        // After a prune, the chain continues from the checkpoint even if no record remains.
        return (0, AuditRecord.genesisHash)
    }

    static func chain(_ event: AuditEvent, seq: Int64, prevHash: String) -> AuditRecord {
        AuditChain.chain(event, seq: seq, prevHash: prevHash)
    }

    public static func hash(prevHash: String, canonical: String) -> String {
        AuditChain.hash(prevHash: prevHash, canonical: canonical)
    }

    /// Keeps the run index in step with the records that describe runs.
    static func index(_ event: AuditEvent, record: AuditRecord, owner: ProcessOwner, db: Database) throws {
        switch RunIndexChange(event, record: record) {
        case nil:
            break
        case .started(let id, let runbook, let startedAt, let initiator, let alertname, let fingerprint):
            try db.cachedStatement(
                sql: """
                    INSERT OR IGNORE INTO run (id, runbook, started_at, initiator, alertname, fingerprint, owner_host, owner_pid, owner_start)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """
            ).execute(arguments: [
                id, runbook, startedAt, initiator, alertname, fingerprint, owner.host, owner.pid, owner.start,
            ])
        case .recovering(let id):
            try db.execute(
                sql: "UPDATE run SET owner_host = ?, owner_pid = ?, owner_start = ? WHERE id = ?",
                arguments: [owner.host, owner.pid, owner.start, id])
        case .finished(let id, let finishedAt, let outcome, let verification):
            try db.cachedStatement(
                sql: """
                    UPDATE run SET finished_at = ?, outcome = ?,
                        duration_ms = CAST(ROUND((julianday(?) - julianday(started_at)) * 86400000) AS INTEGER)
                    WHERE id = ?
                    """
            ).execute(arguments: [finishedAt, outcome, finishedAt, id])
            if let verification {
                try db.execute(sql: "UPDATE run SET verification = ? WHERE id = ?", arguments: [verification, id])
            }
        case .verified(let id, let resolveMilliseconds):
            try db.execute(
                sql: "UPDATE run SET verification = 'verified', resolve_ms = ? WHERE id = ?",
                arguments: [resolveMilliseconds, id])
        case .unverified(let id):
            try db.execute(sql: "UPDATE run SET verification = 'unverified' WHERE id = ?", arguments: [id])
        }
    }

    // MARK: Reading

    /// The last sequence number and hash, to anchor the chain elsewhere (`medic audit head`).
    public func head() throws -> AuditHead? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit_record ORDER BY seq DESC LIMIT 1").map {
                AuditHead(seq: $0["seq"], hash: $0["hash"])
            }
        }
    }

    public func count() throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM audit_record") ?? 0 }
    }

    /// Every record of one run, in order.
    public func records(run runID: String) throws -> [AuditRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_record WHERE run_id = ? ORDER BY seq", arguments: [runID])
                .map(Self.record)
        }
    }

    /// The first record of `kind` in one run.
    static func record(kind: AuditKind, run runID: String, db: Database) throws -> AuditRecord? {
        try Row.fetchOne(
            db, sql: "SELECT * FROM audit_record WHERE run_id = ? AND kind = ? ORDER BY seq LIMIT 1",
            arguments: [runID, kind.rawValue]
        ).map(Self.record)
    }

    static func record(_ row: Row) -> AuditRecord {
        AuditRecord(
            seq: row["seq"], time: row["time"], kind: row["kind"], runID: row["run_id"], body: row["body"],
            prevHash: row["prev_hash"], hash: row["hash"])
    }

    /// Calls `body` with every record in sequence order, streaming (constant memory).
    public func forEachRecord(where filter: RecordFilter, _ body: (AuditRecord) throws -> Void) throws
    {
        try pool.read { db in
            let (sql, arguments) = filter.sql()
            let cursor = try Row.fetchCursor(db, sql: sql, arguments: arguments)
            while let row = try cursor.next() {
                try body(Self.record(row))
            }
        }
    }

    public typealias RecordFilter = AuditRecordFilter
    public typealias Head = AuditHead
    public typealias Verification = AuditVerification
    public typealias Problem = AuditVerification.Problem
    public typealias Stats = AuditStats
    public typealias PruneResult = AuditPruneResult
}

extension AuditRecordFilter {
    func sql() -> (String, StatementArguments) {
        let (whereClause, arguments) = whereClause { _ in "?" }
        return ("SELECT * FROM audit_record\(whereClause) ORDER BY seq\(limitClause)", StatementArguments(arguments))
    }
}

/// The process that owns a run: host, pid and the pid's start time (so a reused pid is not mistaken for it).
package struct ProcessOwner: Sendable, Equatable {
    package var host: String
    package var pid: Int32
    package var start: String

    package init(host: String, pid: Int32, start: String) {
        self.host = host
        self.pid = pid
        self.start = start
    }

    package static let current = ProcessOwner(
        host: ProcessInfo.processInfo.hostName, pid: getpid(), start: startTime(of: getpid()) ?? "")

    /// Field 22 of /proc/PID/stat: start time in clock ticks since boot.
    package static func startTime(of pid: Int32) -> String? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After ")": state is field 3, so start time (field 22) is index 19.
        guard fields.count > 19 else { return nil }
        let state = fields[0]
        if state == "Z" || state == "X" { return nil }
        return String(fields[19])
    }

    /// True when the owner is on this host and its process is gone (or is another process with the same pid).
    package var isGoneFromThisHost: Bool {
        guard host == ProcessOwner.current.host else { return false }
        guard let start = Self.startTime(of: pid) else { return true }
        return start != self.start
    }
}

/// Lowercase hex without Foundation's formatting machinery (hashing is on every append and verify).
enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(64)
        for byte in bytes {
            output.append(digits[Int(byte >> 4)])
            output.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: output, as: UTF8.self)
    }
}

extension SQLiteAuditLog {
    public func pendingVerificationRuns() throws -> [(id: String, started: String)] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT id, started_at FROM run WHERE verification = 'pending'").map {
                (id: $0["id"] as String, started: $0["started_at"] as String)
            }
        }
    }

    /// The records a policy gate is rebuilt from (`AuditKind.policyHistory`), since `cutoff`: older ones lie
    /// outside every window that could read them. Read off the caller's thread is the caller's business: this
    /// is a start-up read.
    public func policyHistory(since cutoff: Date) throws -> [AuditRecord] {
        var records: [AuditRecord] = []
        try forEachRecord(where: RecordFilter(since: RFC3339.format(cutoff), kinds: AuditKind.policyHistory)) {
            records.append($0)
        }
        return records
    }
}
