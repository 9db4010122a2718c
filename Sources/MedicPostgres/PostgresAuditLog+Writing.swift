import Foundation
import MedicCore
import MedicStore
import PostgresNIO

extension PostgresAuditLog {
    /// Closes the runs whose owning Medic is gone, as `SQLiteAuditLog.markInterruptedRuns` does, in one
    /// transaction that holds the head lock (so the unfinished runs read are the ones the new records close).
    public func markInterruptedRuns(now: Date, recovering: Bool) async throws -> AbandonedRuns {
        let owner = self.owner
        let logger = self.logger
        let writer = self.writer
        return try await withDeadline(commitLimit, "closing abandoned runs") { [client] in
            try await client.withTransaction(logger: logger) { connection in
                _ = try await Self.lockHead(connection, logger: logger)
                var candidates: [(String, ProcessOwner)] = []
                for try await (id, host, pid, start) in try await connection.query(
                    // A replica's runs (a fencing token) are closed by the lease sweep, which escalates them.
                    """
                    SELECT id, owner_host, owner_pid, owner_start FROM run
                    WHERE finished_at IS NULL AND COALESCE(owner_token, 0) = 0 FOR UPDATE
                    """,
                    logger: logger
                ).decode((String, String?, Int64?, String?).self) {
                    candidates.append((id, ProcessOwner(host: host ?? "", pid: Int32(pid ?? 0), start: start ?? "")))
                }
                var unfinished: [UnfinishedRun] = []
                for (id, previous) in candidates where previous.isGoneFromThisHost {
                    var started: RunStartedBody?
                    for try await row in try await connection.query(
                        "SELECT \(unescaped: Self.recordColumns) FROM audit_record WHERE run_id = \(id) AND kind = \(AuditKind.runStarted.rawValue) ORDER BY seq LIMIT 1",
                        logger: logger)
                    {
                        started = try Self.record(row).body(as: RunStartedBody.self)
                    }
                    unfinished.append(UnfinishedRun(id: id, owner: previous, started: started))
                }
                let (events, result) = AbandonedRuns.decide(
                    unfinished, claimant: owner, now: now, recovering: recovering)
                try await Self.append(events, owner: owner, writer: writer, on: connection, logger: logger)
                return result
            }
        }
    }

    /// Removes records older than `before` (always keeping the newest) and appends an `audit.checkpoint`, as the
    /// SQLite store does; the head row is locked first, so no replica appends meanwhile.
    public func prune(before: String, now: Date) async throws -> AuditPruneResult {
        let owner = self.owner
        let writer = self.writer
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection in
            let (head, _) = try await Self.lockHead(connection, logger: logger)
            var last: Int64?
            for try await value in try await connection.query(
                "SELECT MAX(seq) FROM audit_record WHERE time < \(before) AND seq < \(head)", logger: logger
            ).decode(Int64?.self) {
                last = value
            }
            guard let last else { return AuditPruneResult(removed: 0, checkpoint: nil) }
            var hash = ""
            for try await value in try await connection.query(
                "SELECT hash FROM audit_record WHERE seq = \(last)", logger: logger
            ).decode(String.self) {
                hash = value
            }
            // The only sanctioned way to remove records: the trigger lets a DELETE through in this transaction.
            try await connection.query("SET LOCAL medic.pruning = 'on'", logger: logger)
            var removed = 0
            for try await count in try await connection.query(
                "WITH gone AS (DELETE FROM audit_record WHERE seq <= \(last) RETURNING 1) SELECT COUNT(*) FROM gone",
                logger: logger
            ).decode(Int64.self) {
                removed = Int(count)
            }
            try await connection.query("SET LOCAL medic.pruning = 'off'", logger: logger)
            try await connection.query(
                "DELETE FROM run WHERE started_at < \(before) AND finished_at IS NOT NULL AND finished_at < \(before)",
                logger: logger)
            let event = AuditEvent(
                time: now, kind: .auditCheckpoint, runID: "",
                body: [
                    "pruned_through_seq": JSONValue(Int(last)), "pruned_through_hash": .string(hash),
                    "removed": JSONValue(removed), "before": .string(before),
                ])
            try await Self.append([event], owner: owner, writer: writer, on: connection, logger: logger)
            return AuditPruneResult(removed: removed, checkpoint: AuditHead(seq: last, hash: hash))
        }
    }

    /// Copies already-chained records (from another store) in order, hashes unchanged, continuing the chain from
    /// this store's head; the caller checks the links. Refuses a record that does not follow the head.
    public func importRecords(_ records: [AuditRecord]) async throws {
        guard !records.isEmpty else { return }
        let logger = self.logger
        do {
            try await importing(records, logger: logger)
        } catch let error as PostgresStoreError {
            throw error
        } catch {
            throw PostgresStoreError("\(location): copying records \(records[0].seq)… failed: \(describePostgresError(error))")
        }
    }

    private func importing(_ records: [AuditRecord], logger: Logger) async throws {
        let owner = self.owner
        try await client.withTransaction(logger: logger) { connection in
            let (seq, _) = try await Self.lockHead(connection, logger: logger)
            // An empty target takes any start (a pruned source starts after its checkpoint).
            if seq != 0, records[0].seq != seq + 1 {
                throw PostgresStoreError(
                    "record \(records[0].seq) does not follow the target's head (record \(seq)); was the target written to meanwhile?"
                )
            }
            try await Self.insert(records, writer: "import", on: connection, logger: logger)
            // The run index is derived: rebuilt from the copied records as appending them would have.
            for record in records {
                if let change = RunIndexChange(stored: record) {
                    try await Self.apply(change, owner: owner, on: connection, logger: logger)
                }
            }
        }
    }
}

extension PostgresAuditLog: SharedAuditLog {
    public func append(
        seenThrough: Int64, deciding: @escaping @Sendable (ForeignDecisions) async -> [AuditEvent]
    ) async throws -> Int64 {
        let (owner, writer, logger) = (self.owner, self.writer, self.logger)
        let token = self.token.value
        do {
            return try await withDeadline(commitLimit, "appending decisions") { [client] in
                try await client.withTransaction(logger: logger) { connection in
                    let (head, _) = try await Self.lockHead(connection, logger: logger)
                    let foreign = try await Self.foreign(
                        after: seenThrough, writer: writer, limit: nil, on: connection, logger: logger)
                    let events = await deciding(ForeignDecisions(records: foreign, through: head))
                    try await Self.append(
                        events, owner: owner, writer: writer, token: token, on: connection, logger: logger)
                    return head + Int64(events.count)
                }
            }
        } catch let error as PostgresTimeout {
            throw PostgresStoreError("\(location): \(error)")
        } catch {
            throw PostgresStoreError("\(location): appending decisions failed: \(describePostgresError(error))")
        }
    }

    public func foreignPolicyRecords(after seq: Int64, limit: Int) async throws -> [AuditRecord] {
        try await client.withConnection { connection in
            try await Self.foreign(after: seq, writer: writer, limit: limit, on: connection, logger: logger)
        }
    }

    public func runElsewhere(_ runID: String) async throws -> RunElsewhere? {
        var owner: String?
        for try await replica in try await client.query(
            """
            SELECT r.owner_replica FROM run r JOIN replica p ON p.id = r.owner_replica
            WHERE r.id = \(runID) AND r.finished_at IS NULL AND r.owner_replica <> \(writer)
            AND p.token = r.owner_token AND p.lease_until > clock_timestamp()
            """, logger: logger
        ).decode(String.self) {
            owner = replica
        }
        guard let owner else { return nil }
        // Still waiting for approval: decided so, and nothing since that approved, started or ended it.
        var waiting = false
        for try await kind in try await client.query(
            """
            SELECT kind FROM audit_record WHERE run_id = \(runID)
            AND kind = ANY(\([AuditKind.decisionAwaitingApproval, .runApproved, .attemptStarted, .runFinished].map(\.rawValue)))
            ORDER BY seq
            """, logger: logger
        ).decode(String.self) {
            waiting = kind == AuditKind.decisionAwaitingApproval.rawValue
        }
        return RunElsewhere(replica: owner, awaitingApproval: waiting)
    }

    public func lastSequence() async throws -> Int64 {
        for try await seq in try await client.query("SELECT seq FROM audit_head WHERE id = 1", logger: logger)
            .decode(Int64.self)
        {
            return seq
        }
        return 0
    }

    static func foreign(
        after seq: Int64, writer: String, limit: Int?, on connection: PostgresConnection, logger: Logger
    ) async throws -> [AuditRecord] {
        // The policy records, and approvals and cancels a replica forwards to the one that holds the run.
        let kinds = (AuditKind.policyHistory + [.runApproved, .runCancelRequested]).map(\.rawValue)
        var records: [AuditRecord] = []
        for try await row in try await connection.query(
            """
            SELECT \(unescaped: recordColumns) FROM audit_record
            WHERE seq > \(seq) AND writer <> \(writer) AND kind = ANY(\(kinds))
            ORDER BY seq LIMIT \(limit.map(Int64.init) ?? Int64.max)
            """, logger: logger)
        {
            records.append(try record(row))
        }
        return records
    }
}
