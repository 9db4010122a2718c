import Foundation
import Logging
import MedicCore
import MedicStore
import PostgresNIO
import Synchronization

/// The audit store in a PostgreSQL database that several Medic replicas share.
///
/// One hash chain in one total order: every append locks the single `audit_head` row in its transaction, so
/// appends from all replicas serialise on it and each continues from the head the last one left. Concurrent
/// appends within one replica share transactions (group commit). Records are append-only (triggers refuse
/// UPDATE, DELETE and TRUNCATE, except a prune's own DELETE); the `run` table is the same derived index as
/// SQLite's.
public final class PostgresAuditLog: AuditStore, Sendable {
    public let location: String
    let client: PostgresClient
    private let runner: Task<Void, Never>
    let owner: ProcessOwner
    let logger: Logger
    private let committer: AsyncGroupCommit
    /// The longest a commit may wait for the database before its caller is told it failed.
    let commitLimit: Duration

    /// The schema this build knows; a database at a newer version is refused (an older Medic must not write to
    /// tables it does not understand).
    public static let schemaVersion = PostgresSchema.migrations.count

    /// This replica's name on the records it appends (`--replica-id`, default host:pid).
    public let writer: String
    /// The fencing token from `register(lease:)` (0 until then: a command, not a replica).
    let token = FencingToken()

    private init(
        location: PostgresLocation, configuration: PostgresClient.Configuration, commitLimit: Duration, writer: String
    ) {
        self.writer = writer
        self.location = location.redacted
        client = PostgresClient(configuration: configuration)
        let client = self.client
        runner = Task { await client.run() }
        owner = ProcessOwner.current
        logger = Logger(label: "medic.postgres")
        self.commitLimit = commitLimit
        let owner = self.owner
        let logger = self.logger
        let token = self.token
        committer = AsyncGroupCommit { [client, writer] events in
            try await withDeadline(commitLimit, "appending \(events.count) audit records") {
                try await client.withTransaction(logger: logger) { connection in
                    try await Self.append(
                        events, owner: owner, writer: writer, token: token.value, on: connection,
                        logger: logger)
                }
            }
        }
    }

    /// Connects, creates or upgrades the schema (once, under a lock, whichever replica comes first), and
    /// returns the store. Throws `PostgresStoreError` with PostgreSQL's own words when the database cannot be
    /// reached, refuses the login, or has a newer schema.
    public static func open(
        url: String, environment: [String: String] = ProcessInfo.processInfo.environment,
        commitLimit: Duration = .seconds(5), replica: String? = nil
    ) async throws -> PostgresAuditLog {
        let location: PostgresLocation
        let configuration: PostgresClient.Configuration
        let single: PostgresConnection.Configuration
        do {
            location = try PostgresLocation(url: url, environment: environment)
            configuration = try location.clientConfiguration()
            single = try location.connectionConfiguration()
        } catch {
            throw PostgresStoreError("invalid PostgreSQL URL: \(error)")
        }
        // One plain connection first: the pool retries a refused login forever, a single connection says why.
        let logger = Logger(label: "medic.postgres")
        do {
            try await withDeadline(location.connectTimeout + .seconds(5), "connecting to \(location.redacted)") {
                let connection = try await PostgresConnection.connect(
                    configuration: single, id: 0, logger: logger)
                do {
                    try await PostgresSchema.migrate(connection, logger: logger)
                } catch {
                    try? await connection.close()
                    throw error
                }
                try await connection.close()
            }
        } catch {
            throw PostgresStoreError("cannot open \(location.redacted): \(describePostgresError(error))")
        }
        return PostgresAuditLog(
            location: location, configuration: configuration, commitLimit: commitLimit,
            writer: replica ?? Self.defaultReplicaID)
    }

    /// host:pid, unique among live replicas.
    public static var defaultReplicaID: String { "\(ProcessInfo.processInfo.hostName):\(getpid())" }

    public func close() async {
        runner.cancel()
        _ = await runner.value
    }

    // MARK: Appending

    public func append(_ event: AuditEvent) async throws {
        try await append(batch: [event])
    }

    public func append(batch events: [AuditEvent]) async throws {
        do {
            try await committer.append(events)
        } catch let error as PostgresTimeout {
            throw PostgresStoreError("\(location): \(error)")
        } catch {
            throw PostgresStoreError("\(location): appending to the audit log failed: \(describePostgresError(error))")
        }
    }

    /// Chains and inserts `events` inside the caller's transaction, after locking the head row: the lock is what
    /// makes the appends of every replica one chain.
    static func append(
        _ events: [AuditEvent], owner: ProcessOwner, writer: String, token: Int64 = 0,
        on connection: PostgresConnection, logger: Logger
    ) async throws {
        guard !events.isEmpty else { return }
        var (seq, prev) = try await lockHead(connection, logger: logger)
        if token != 0 { try await checkLease(writer: writer, token: token, on: connection, logger: logger) }
        var records: [AuditRecord] = []
        records.reserveCapacity(events.count)
        for event in events {
            seq += 1
            let record = AuditChain.chain(event, seq: seq, prevHash: prev)
            records.append(record)
            prev = record.hash
        }
        try await insert(records, writer: writer, on: connection, logger: logger)
        for (event, record) in zip(events, records) {
            if let change = RunIndexChange(event, record: record) {
                try await apply(change, owner: owner, writer: writer, token: token, on: connection, logger: logger)
            }
            guard let runID = record.runID else { continue }
            // A replica's runs between their decision and their start: if the replica is lost meanwhile, the
            // sweep finds them here (they have no row in `run` yet). Only a registered replica's.
            switch event.kind {
            case .decisionRun, .decisionQueued, .decisionAwaitingApproval:
                guard token != 0 else { continue }
                try await connection.query(
                    """
                    INSERT INTO decided_run (id, runbook, owner_replica, owner_token)
                    VALUES (\(runID), \(event.body["runbook"]?.stringValue ?? ""), \(writer), \(token))
                    ON CONFLICT (id) DO NOTHING
                    """, logger: logger)
            case .runStarted, .runFinished:
                try await connection.query("DELETE FROM decided_run WHERE id = \(runID)", logger: logger)
            default:
                break
            }
        }
    }

    /// Inserts already-chained records in one statement and moves the head to the last of them. The head row
    /// must be locked by the caller's transaction.
    static func insert(
        _ records: [AuditRecord], writer: String, on connection: PostgresConnection, logger: Logger
    ) async throws {
        guard let last = records.last else { return }
        let seqs = records.map(\.seq)
        let times = records.map(\.time)
        let kinds = records.map(\.kind)
        let runs = records.map { $0.runID ?? "" }
        let bodies = records.map(\.body)
        let prevs = records.map(\.prevHash)
        let hashes = records.map(\.hash)
        try await connection.query(
            """
            INSERT INTO audit_record (seq, time, kind, run_id, body, prev_hash, hash, writer)
            SELECT s, t, k, NULLIF(r, ''), b, p, h, \(writer)
            FROM unnest(\(seqs)::bigint[], \(times)::text[], \(kinds)::text[], \(runs)::text[], \(bodies)::text[], \(prevs)::text[], \(hashes)::text[])
                AS x(s, t, k, r, b, p, h)
            """, logger: logger)
        try await connection.query(
            "UPDATE audit_head SET seq = \(last.seq), hash = \(last.hash) WHERE id = 1", logger: logger)
    }

    /// Locks the head row for the rest of the transaction and returns the last link.
    static func lockHead(_ connection: PostgresConnection, logger: Logger) async throws -> (Int64, String) {
        // A wait for the head gives up on the server, so its outcome is known (not committed) before the
        // client's own deadline fires. Set per transaction: PgBouncer refuses such settings at startup.
        try await connection.query("SET LOCAL lock_timeout = '4s'", logger: logger)
        let rows = try await connection.query("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE", logger: logger)
        for try await (seq, hash) in rows.decode((Int64, String).self) { return (seq, hash) }
        throw PostgresStoreError("the audit_head row is missing: the schema was changed by hand")
    }

    static func apply(
        _ change: RunIndexChange, owner: ProcessOwner, writer: String = "", token: Int64 = 0,
        on connection: PostgresConnection, logger: Logger
    ) async throws {
        switch change {
        case .started(let id, let runbook, let startedAt, let initiator, let alertname, let fingerprint):
            try await connection.query(
                """
                INSERT INTO run (id, runbook, started_at, initiator, alertname, fingerprint, owner_host, owner_pid, owner_start, owner_replica, owner_token)
                VALUES (\(id), \(runbook), \(startedAt), \(initiator), \(alertname), \(fingerprint), \(owner.host), \(Int64(owner.pid)), \(owner.start), \(writer), \(token))
                ON CONFLICT (id) DO NOTHING
                """, logger: logger)
        case .recovering(let id):
            try await connection.query(
                """
                UPDATE run SET owner_host = \(owner.host), owner_pid = \(Int64(owner.pid)), owner_start = \(owner.start),
                    owner_replica = \(writer), owner_token = \(token)
                WHERE id = \(id)
                """, logger: logger)
        case .finished(let id, let finishedAt, let outcome, let verification):
            try await connection.query(
                """
                UPDATE run SET finished_at = \(finishedAt), outcome = \(outcome),
                    duration_ms = (EXTRACT(EPOCH FROM (\(finishedAt)::timestamptz - started_at::timestamptz)) * 1000)::bigint,
                    verification = COALESCE(\(verification), verification)
                WHERE id = \(id)
                """, logger: logger)
        case .verified(let id, let resolveMilliseconds):
            try await connection.query(
                "UPDATE run SET verification = 'verified', resolve_ms = \(resolveMilliseconds.map(Int64.init)) WHERE id = \(id)",
                logger: logger)
        case .unverified(let id):
            try await connection.query(
                "UPDATE run SET verification = 'unverified' WHERE id = \(id)", logger: logger)
        }
    }

    public func isReachable() async -> Bool {
        let client = self.client
        let logger = self.logger
        return (try? await withDeadline(.seconds(3), "readiness") {
            try await client.withConnection { connection in
                try await connection.query("SELECT 1", logger: logger)
            }
            return true
        }) ?? false
    }
}

/// A PostgreSQL store failure, in words an operator can act on.
public struct PostgresStoreError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The fencing token a replica registered with, shared by its appends (0: not a replica).
final class FencingToken: Sendable {
    private let stored = Atomic<Int64>(0)
    var value: Int64 { stored.load(ordering: .acquiring) }
    func set(_ value: Int64) { stored.store(value, ordering: .releasing) }
}
