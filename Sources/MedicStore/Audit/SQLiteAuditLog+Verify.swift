import Foundation
import GRDB
import MedicCore

extension SQLiteAuditLog {
    /// Recomputes every hash and link, streaming. With `expectHead`, also checks the log reaches that head.
    public func verify(expectHead: Head?) throws -> Verification {
        try pool.read { db in
            var verifier = ChainVerifier(checkpoint: try Self.checkpoint(db), expectHead: expectHead)
            let cursor = try Row.fetchCursor(db, sql: "SELECT * FROM audit_record ORDER BY seq")
            while let row = try cursor.next() { verifier.add(Self.record(row)) }
            return verifier.finish()
        }
    }

    /// The newest checkpoint left by a prune: the last pruned record's seq and hash.
    static func checkpoint(_ db: Database) throws -> Head? {
        guard
            let body = try String.fetchOne(
                db, sql: "SELECT body FROM audit_record WHERE kind = ? ORDER BY seq DESC LIMIT 1",
                arguments: [AuditKind.auditCheckpoint.rawValue])
        else { return nil }
        return ChainVerifier.checkpoint(fromBody: body)
    }

    /// Appends `run.finished` with outcome `interrupted` for every run with no end record whose owning Medic
    /// process (on this host) is gone. Runs owned by live processes, or by other hosts, are left alone.
    ///
    /// A run whose `run.started` says `on_interrupt: rollback` is left for a caller that can roll it back:
    /// with `recovering`, such runs are claimed (a `run.recovering` record makes this process their owner, in
    /// the same transaction, so two Medics never both recover one) and returned in `recovering`; without it,
    /// they stay unfinished for the next `medic serve`.
    @discardableResult
    public func markInterruptedRuns(now: Date, recovering: Bool) throws -> AbandonedRuns {
        let owner = self.owner
        return try pool.writeWithoutTransaction { db in
            var result = AbandonedRuns()
            try db.inTransaction(.immediate) {
                var unfinished: [UnfinishedRun] = []
                for row in try Row.fetchAll(
                    db, sql: "SELECT id, owner_host, owner_pid, owner_start FROM run WHERE finished_at IS NULL")
                {
                    let id: String = row["id"]
                    unfinished.append(
                        UnfinishedRun(
                            id: id,
                            owner: ProcessOwner(
                                host: row["owner_host"] ?? "", pid: row["owner_pid"] ?? 0, start: row["owner_start"] ?? ""),
                            started: try Self.record(kind: .runStarted, run: id, db: db)?.body(as: RunStartedBody.self)))
                }
                let (events, decided) = AbandonedRuns.decide(
                    unfinished, claimant: owner, now: now, recovering: recovering)
                result = decided
                try Self.append(events, owner: owner, db: db)
                return .commit
            }
            return result
        }
    }
}
