import Foundation
import Logging
import MedicCore
import MedicStore
import PostgresNIO

/// A replica's lease on the shared store: registered with a fencing token, renewed by heartbeat, checked by
/// every append (`checkLease`), and, once it has run out, the reason another replica may close its runs.
extension PostgresAuditLog {
    /// The writer name under which the dead-replica sweep records: not any replica's own, so that every
    /// replica, the sweeping one included, takes those records in as another writer's.
    static let sweeperWriter = "medic:sweeper"

    /// Registers this process as replica `writer` with a new fencing token and a lease of `lease`. A process
    /// that held the id before is fenced from now on: its token no longer matches.
    @discardableResult
    public func register(lease: Duration) async throws -> Int64 {
        let seconds = Self.seconds(lease)
        let rows = try await client.query(
            """
            INSERT INTO replica (id, token, host, pid, lease_until)
            VALUES (\(writer), nextval('replica_token'), \(owner.host), \(Int64(owner.pid)), now() + make_interval(secs => \(seconds)))
            ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token, host = EXCLUDED.host, pid = EXCLUDED.pid,
                lease_until = EXCLUDED.lease_until, registered_at = now()
            RETURNING token
            """, logger: logger)
        for try await value in rows.decode(Int64.self) {
            token.set(value)
            return value
        }
        throw PostgresStoreError("registering replica \(writer) returned nothing")
    }

    /// Extends the lease; false when this replica's token is no longer the registered one (another process
    /// took the id) or the lease already ran out (another replica may have closed its runs).
    public func renew(lease: Duration) async throws -> Bool {
        let current = token.value
        let seconds = Self.seconds(lease)
        return try await withDeadline(.seconds(max(1, Int64(seconds / 3))), "renewing the lease") { [client, writer, logger] in
            let rows = try await client.query(
                """
                UPDATE replica SET lease_until = now() + make_interval(secs => \(seconds))
                WHERE id = \(writer) AND token = \(current) AND lease_until > clock_timestamp()
                RETURNING token
                """, logger: logger)
            for try await _ in rows.decode(Int64.self) { return true }
            return false
        }
    }

    /// Refuses a write whose replica no longer holds its lease (the fencing check every append makes).
    static func checkLease(
        writer: String, token: Int64, on connection: PostgresConnection, logger: Logger
    ) async throws {
        for try await _ in try await connection.query(
            // clock_timestamp(), not now(): now() is the transaction's start, and a transaction that waited for
            // the head lock past the lease's end must not pass.
            "SELECT 1 FROM replica WHERE id = \(writer) AND token = \(token) AND lease_until > clock_timestamp()",
            logger: logger
        ).decode(Int32.self) {
            return
        }
        throw PostgresStoreError(
            "replica \(writer) is fenced: its lease ran out or another process registered under its id (token \(token)); nothing was written"
        )
    }

    /// A run closed because its replica's lease ran out.
    public struct ClosedRun: Sendable, Equatable {
        public var runID: String
        public var runbook: String
        public var replica: String
    }

    /// If this replica holds (or takes) the sweep's leader row for `lease`: closes every unfinished run whose
    /// replica's lease has run out, or whose replica registered again since (a new token), with `run.finished`
    /// `interrupted` (no step runs again) and `run.escalated` (`replica_lost`), in one transaction. Returns what
    /// it closed; empty when another replica leads the sweep.
    public func closeRunsOfLostReplicas(lease: Duration, now: Date = Date()) async throws -> [ClosedRun] {
        let (writer, logger, owner) = (self.writer, self.logger, self.owner)
        let token = self.token.value
        let seconds = Self.seconds(lease)
        return try await withDeadline(commitLimit, "sweeping lost replicas' runs") { [client] in
            try await client.withTransaction(logger: logger) { connection in
                var leading = false
                for try await _ in try await connection.query(
                    """
                    INSERT INTO leader (name, holder, until) VALUES ('sweep', \(writer), now() + make_interval(secs => \(seconds)))
                    ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until
                    WHERE leader.until < now() OR leader.holder = EXCLUDED.holder
                    RETURNING 1
                    """, logger: logger
                ).decode(Int32.self) {
                    leading = true
                }
                guard leading else { return [] }
                _ = try await Self.lockHead(connection, logger: logger)
                // The sweeper writes under a name of its own, but only while its own lease holds.
                if token != 0 { try await Self.checkLease(writer: writer, token: token, on: connection, logger: logger) }
                var lost: [(String, String, String, Date?)] = []
                for try await (id, runbook, replica, expired) in try await connection.query(
                    """
                    SELECT r.id, r.runbook, r.owner_replica, p.lease_until FROM run r
                    JOIN replica p ON p.id = r.owner_replica
                    WHERE r.finished_at IS NULL AND (p.lease_until < clock_timestamp() OR p.token <> r.owner_token)
                    ORDER BY r.started_at
                    FOR UPDATE OF r
                    """, logger: logger
                ).decode((String, String, String, Date?).self) {
                    lost.append((id, runbook, replica, expired))
                }
                // And the ones decided and never started.
                for try await (id, runbook, replica, expired) in try await connection.query(
                    """
                    SELECT d.id, d.runbook, d.owner_replica, p.lease_until FROM decided_run d
                    JOIN replica p ON p.id = d.owner_replica
                    WHERE (p.lease_until < clock_timestamp() OR p.token <> d.owner_token)
                    AND NOT EXISTS (SELECT 1 FROM run r WHERE r.id = d.id)
                    FOR UPDATE OF d
                    """, logger: logger
                ).decode((String, String, String, Date?).self) {
                    lost.append((id, runbook, replica, expired))
                }
                var events: [AuditEvent] = []
                for (id, runbook, replica, expired) in lost {
                    let reason =
                        "replica \(replica) stopped renewing its lease (it ran out at \(expired.map(RFC3339.format) ?? "?")); closed by \(writer) without running any step again"
                    events += Self.lostRunRecords(
                        id, runbook: runbook, detail: reason, closedBy: writer, finish: true, now: now)
                }
                try await Self.append(events, owner: owner, writer: Self.sweeperWriter, on: connection, logger: logger)
                return lost.map { ClosedRun(runID: $0.0, runbook: $0.1, replica: $0.2) }
            }
        }
    }

    /// The runs a fenced replica stopped: each is escalated (`replica_lost`) once, whoever recorded its end, and
    /// closed `interrupted` if nobody did. Runs already escalated (by the sweep of another replica) are left.
    public func escalateStoppedRuns(_ runIDs: [String], reason: String, now: Date = Date()) async throws -> [String] {
        guard !runIDs.isEmpty else { return [] }
        let (writer, logger, owner) = (self.writer, self.logger, self.owner)
        let token = self.token.value
        return try await withDeadline(commitLimit, "escalating fenced runs") { [client] in
            try await client.withTransaction(logger: logger) { connection in
                _ = try await Self.lockHead(connection, logger: logger)
                if token != 0 { try await Self.checkLease(writer: writer, token: token, on: connection, logger: logger) }
                var events: [AuditEvent] = []
                var escalated: [String] = []
                for id in runIDs {
                    // What the chain says of the run: its runbook, whether it ended, whether it was escalated
                    // for this already (a run decided but never started has no row in `run`).
                    var runbook: String?
                    var finished = false
                    var already = false
                    let kinds: [AuditKind] = [
                        .decisionRun, .decisionQueued, .decisionAwaitingApproval, .runStarted, .runFinished,
                        .runEscalated,
                    ]
                    for try await row in try await connection.query(
                        """
                        SELECT \(unescaped: Self.recordColumns) FROM audit_record WHERE run_id = \(id)
                        AND kind = ANY(\(kinds.map(\.rawValue))) ORDER BY seq
                        """, logger: logger)
                    {
                        let record = try Self.record(row)
                        let body = record.bodyValue
                        switch record.kind {
                        case AuditKind.runFinished.rawValue: finished = true
                        case AuditKind.runEscalated.rawValue:
                            if body["reason"] as? String == Escalation.Reason.replicaLost.rawValue { already = true }
                        default: runbook = runbook ?? body["runbook"] as? String
                        }
                    }
                    guard let runbook, !already else { continue }
                    let detail = "replica \(writer) was fenced (\(reason)) and stopped this run without rollback"
                    events += Self.lostRunRecords(
                        id, runbook: runbook, detail: detail, closedBy: writer, finish: !finished, now: now)
                    escalated.append(id)
                }
                try await Self.append(events, owner: owner, writer: Self.sweeperWriter, on: connection, logger: logger)
                return escalated
            }
        }
    }

    /// A lost replica's run: its `run.finished` `interrupted` (unless it has one) and its `run.escalated`
    /// `replica_lost`, saying why and who closed it.
    static func lostRunRecords(
        _ id: String, runbook: String, detail: String, closedBy: String, finish: Bool, now: Date
    ) -> [AuditEvent] {
        let lost = Escalation.Reason.replicaLost.rawValue
        let end = AuditEvent(
            time: now, kind: .runFinished, runID: id,
            body: ["outcome": .string(RunOutcome.interrupted.rawValue), "reason": .string(detail)])
        let escalation = AuditEvent(
            time: now, kind: .runEscalated, runID: id,
            body: [
                "runbook": .string(runbook), "reason": .string(lost), "reasons": [.string(lost)],
                "details": [.string(detail)], "hook": .bool(false), "closed_by": .string(closedBy),
            ])
        return finish ? [end, escalation] : [escalation]
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
