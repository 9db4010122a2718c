import Foundation
import GRDB
import MedicCore

extension SQLiteAuditLog {
    /// Removes records older than `before` (an RFC 3339 time), always keeping the newest record, and appends
    /// an `audit.checkpoint` record naming the last removed record's seq and hash: the first remaining
    /// record's `prev_hash` must equal it, so the rest of the chain still verifies.
    public func prune(before: String, now: Date = Date()) async throws -> PruneResult {
        try await pool.writeWithoutTransaction { db in
            var result = PruneResult(removed: 0, checkpoint: nil)
            try db.inTransaction(.immediate) {
                guard let head = try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM audit_record"),
                    let last = try Int64.fetchOne(
                        db, sql: "SELECT MAX(seq) FROM audit_record WHERE time < ? AND seq < ?",
                        arguments: [before, head])
                else { return .commit }
                guard
                    let hash = try String.fetchOne(
                        db, sql: "SELECT hash FROM audit_record WHERE seq = ?", arguments: [last])
                else { return .commit }
                let removed =
                    try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM audit_record WHERE seq <= ?", arguments: [last])
                    ?? 0
                // The only sanctioned way to remove records: lift the guard, delete, restore it, in one transaction.
                try db.execute(sql: "DROP TRIGGER audit_record_append_only_delete")
                try db.execute(sql: "DELETE FROM audit_record WHERE seq <= ?", arguments: [last])
                try db.execute(
                    sql: """
                        CREATE TRIGGER audit_record_append_only_delete BEFORE DELETE ON audit_record
                        BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END
                        """)
                try db.execute(
                    sql: "DELETE FROM run WHERE started_at < ? AND finished_at IS NOT NULL AND finished_at < ?",
                    arguments: [before, before])
                let (seq, prev) = try Self.lastLink(db)
                let event = AuditEvent(
                    time: now, kind: .auditCheckpoint, runID: "",
                    body: [
                        "pruned_through_seq": JSONValue(Int(last)), "pruned_through_hash": .string(hash),
                        "removed": JSONValue(removed), "before": .string(before),
                    ])
                let record = Self.chain(event, seq: seq + 1, prevHash: prev)
                try db.execute(
                    sql:
                        "INSERT INTO audit_record (seq, time, kind, run_id, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    arguments: [
                        record.seq, record.time, record.kind, record.runID, record.body, record.prevHash, record.hash,
                    ])
                result = PruneResult(removed: removed, checkpoint: Head(seq: last, hash: hash))
                return .commit
            }
            return result
        }
    }
}
