import Foundation
import GRDB
import MedicCore

extension SQLiteAuditLog {
    /// The result of recomputing the chain.
    public struct Verification: Sendable, Equatable {
        public var records: Int
        public var head: Head?
        /// The first problem found, if any.
        public var problem: Problem?

        public var intact: Bool { problem == nil }
    }

    public struct Head: Sendable, Equatable, CustomStringConvertible {
        public var seq: Int64
        public var hash: String

        public init(seq: Int64, hash: String) {
            self.seq = seq
            self.hash = hash
        }

        /// Parses `SEQ:HASH`.
        public init?(_ text: String) {
            let parts = text.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let seq = Int64(parts[0]), parts[1].count == 64 else { return nil }
            self.init(seq: seq, hash: String(parts[1]).lowercased())
        }

        public var description: String { "\(seq):\(hash)" }
    }

    /// What is wrong with the chain, at which record.
    public enum Problem: Sendable, Equatable, CustomStringConvertible {
        /// The record's contents do not hash to its stored hash: it was edited.
        case contentChanged(seq: Int64, stored: String, computed: String)
        /// The record's prev_hash is not the hash of the record before it.
        case brokenLink(seq: Int64, prevHash: String, expected: String)
        /// Sequence numbers jump: records were removed.
        case missingRecords(after: Int64, next: Int64)
        /// The log does not start at 1 and no checkpoint explains it.
        case missingStart(first: Int64)
        /// The log ends before the expected head: its tail was cut off.
        case truncated(expected: Head, last: Int64?)
        /// The record at the expected head's position has another hash.
        case headMismatch(expected: Head, actual: String)

        public var seq: Int64? {
            switch self {
            case .contentChanged(let seq, _, _), .brokenLink(let seq, _, _): seq
            case .missingRecords(let after, _): after + 1
            case .missingStart(let first): first
            case .truncated(let expected, _): expected.seq
            case .headMismatch(let expected, _): expected.seq
            }
        }

        public var description: String {
            switch self {
            case .contentChanged(let seq, let stored, let computed):
                "record \(seq): contents do not match its hash (stored \(stored), contents hash to \(computed)); the record was changed"
            case .brokenLink(let seq, let prevHash, let expected):
                "record \(seq): prev_hash \(prevHash) does not link to record \(seq - 1) (whose hash is \(expected))"
            case .missingRecords(let after, let next):
                "records \(after + 1)…\(next - 1) are missing (record \(after) is followed by \(next))"
            case .missingStart(let first):
                "the log starts at record \(first) and no checkpoint accounts for records 1…\(first - 1)"
            case .truncated(let expected, let last):
                "the log ends at record \(last.map(String.init) ?? "none") but the expected head is record \(expected.seq): its tail was removed"
            case .headMismatch(let expected, let actual):
                "record \(expected.seq) has hash \(actual), not the expected head \(expected.hash)"
            }
        }
    }

    /// Recomputes every hash and link, streaming. With `expectHead`, also checks the log reaches that head.
    public func verify(expectHead: Head? = nil) throws -> Verification {
        try pool.read { db in
            var count = 0
            var previous: (seq: Int64, hash: String)?
            var problem: Problem?
            var expectedHeadHash: String?
            let checkpoint = try Self.checkpoint(db)
            let cursor = try Row.fetchCursor(db, sql: "SELECT * FROM audit_record ORDER BY seq")
            while let row = try cursor.next() {
                let record = Self.record(row)
                count += 1
                if let expectHead, record.seq == expectHead.seq { expectedHeadHash = record.hash }
                guard problem == nil else { continue }
                if let previous {
                    if record.seq != previous.seq + 1 {
                        problem = .missingRecords(after: previous.seq, next: record.seq)
                    } else if record.prevHash != previous.hash {
                        problem = .brokenLink(seq: record.seq, prevHash: record.prevHash, expected: previous.hash)
                    }
                } else if record.seq != 1 {
                    if let checkpoint, checkpoint.seq == record.seq - 1, checkpoint.hash == record.prevHash {
                        // Pruned: the checkpoint vouches for the part that was removed.
                    } else {
                        problem = .missingStart(first: record.seq)
                    }
                } else if record.prevHash != AuditRecord.genesisHash {
                    problem = .brokenLink(seq: 1, prevHash: record.prevHash, expected: AuditRecord.genesisHash)
                }
                if problem == nil {
                    let computed = Self.hash(prevHash: record.prevHash, canonical: record.canonical)
                    if computed != record.hash {
                        problem = .contentChanged(seq: record.seq, stored: record.hash, computed: computed)
                    }
                }
                previous = (record.seq, record.hash)
            }
            if problem == nil, let expectHead {
                if let last = previous?.seq, last >= expectHead.seq {
                    if let actual = expectedHeadHash, actual != expectHead.hash {
                        problem = .headMismatch(expected: expectHead, actual: actual)
                    }
                } else {
                    problem = .truncated(expected: expectHead, last: previous?.seq)
                }
            }
            return Verification(
                records: count, head: previous.map { Head(seq: $0.seq, hash: $0.hash) }, problem: problem)
        }
    }

    /// The newest checkpoint left by a prune: the last pruned record's seq and hash.
    static func checkpoint(_ db: Database) throws -> Head? {
        guard
            let body = try String.fetchOne(
                db, sql: "SELECT body FROM audit_record WHERE kind = ? ORDER BY seq DESC LIMIT 1",
                arguments: [AuditKind.auditCheckpoint.rawValue])
        else { return nil }
        let value = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
        guard let seq = (value?["pruned_through_seq"] as? NSNumber)?.int64Value,
            let hash = value?["pruned_through_hash"] as? String
        else { return nil }
        return Head(seq: seq, hash: hash)
    }

    /// Appends `run.finished` with outcome `interrupted` for every run with no end record whose owning Medic
    /// process (on this host) is gone. Runs owned by live processes, or by other hosts, are left alone.
    ///
    /// A run whose `run.started` says `on_interrupt: rollback` is left for a caller that can roll it back:
    /// with `recovering`, such runs are claimed (a `run.recovering` record makes this process their owner, in
    /// the same transaction, so two Medics never both recover one) and returned in `recovering`; without it,
    /// they stay unfinished for the next `medic serve`.
    @discardableResult
    public func markInterruptedRuns(now: Date = Date(), recovering: Bool = false) throws -> AbandonedRuns {
        let owner = self.owner
        return try pool.writeWithoutTransaction { db in
            var result = AbandonedRuns()
            try db.inTransaction(.immediate) {
                var events: [AuditEvent] = []
                for row in try Row.fetchAll(
                    db, sql: "SELECT id, owner_host, owner_pid, owner_start FROM run WHERE finished_at IS NULL")
                {
                    let previous = ProcessOwner(
                        host: row["owner_host"] ?? "", pid: row["owner_pid"] ?? 0, start: row["owner_start"] ?? "")
                    guard previous.isGoneFromThisHost else { continue }
                    let id: String = row["id"]
                    let started = try Self.record(kind: .runStarted, run: id, db: db)?.body(as: RunStartedBody.self)
                    let reason = "medic process \(previous.pid) on \(previous.host) ended without finishing the run"
                    // Decided from the record's own typed field: the alert's labels are in the same body, and a
                    // label spelled like the field must not choose the recovery path.
                    if started?.onInterrupt == .rollback {
                        guard recovering else { continue }
                        events.append(
                            AuditEvent(
                                time: now, kind: .runRecovering, runID: id,
                                body: ["reason": .string(reason), "by_pid": JSONValue(Int(owner.pid))]))
                        result.recovering.append(id)
                    } else {
                        events.append(
                            AuditEvent(
                                time: now, kind: .runFinished, runID: id,
                                body: [
                                    "outcome": .string(RunOutcome.interrupted.rawValue), "reason": .string(reason),
                                ]))
                        result.interrupted.append(id)
                    }
                }
                try Self.append(events, owner: owner, db: db)
                return .commit
            }
            return result
        }
    }

    /// What `markInterruptedRuns` did.
    public struct AbandonedRuns: Sendable, Equatable {
        /// Recorded as `interrupted`.
        public var interrupted: [String] = []
        /// Claimed by this process to be rolled back (`policy.on_interrupt: rollback`).
        public var recovering: [String] = []

        public init(interrupted: [String] = [], recovering: [String] = []) {
            self.interrupted = interrupted
            self.recovering = recovering
        }
    }
}
