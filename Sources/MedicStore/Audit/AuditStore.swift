import Crypto
import Foundation
import MedicCore

/// A durable audit store: the hash chain, the run index derived from it, and what the commands and the server
/// ask of them. The embedded SQLite file (`SQLiteAuditLog`) and a PostgreSQL database shared by several
/// replicas (`MedicPostgres`) conform, and the store tests run against both through this seam.
public protocol AuditStore: AuditLog, RunHistory {
    /// Where the store is, for messages: a file path, or a URL with its password removed.
    var location: String { get }
    /// The last sequence number and hash, to anchor the chain elsewhere (`medic audit head`); nil when empty.
    func head() async throws -> AuditHead?
    func count() async throws -> Int
    /// Recomputes every hash and link, streaming. With `expectHead`, also checks the log reaches that head.
    func verify(expectHead: AuditHead?) async throws -> AuditVerification
    /// Calls `body` with every record passing `filter`, in sequence order, streaming (constant memory).
    func forEachRecord(where filter: AuditRecordFilter, _ body: (AuditRecord) throws -> Void) async throws
    /// Every record of one run, in order.
    func records(run runID: String) async throws -> [AuditRecord]
    /// Counts for `medic audit stats`.
    func stats(since: String?) async throws -> AuditStats
    /// Removes records older than `before`, leaving a checkpoint that keeps the rest verifiable.
    func prune(before: String, now: Date) async throws -> AuditPruneResult
    /// Closes runs whose owning Medic is gone as `interrupted` (or claims `on_interrupt: rollback` ones with
    /// `recovering`); see `SQLiteAuditLog.markInterruptedRuns`.
    func markInterruptedRuns(now: Date, recovering: Bool) async throws -> AbandonedRuns
    /// The records a policy gate is rebuilt from, since `cutoff`.
    func policyHistory(since cutoff: Date) async throws -> [AuditRecord]
    /// The runs whose verification is still pending, with their start times.
    func pendingVerificationRuns() async throws -> [(id: String, started: String)]
    /// True when the store answers a trivial read now: what `/readyz` reports.
    func isReachable() async -> Bool
    /// Releases connections; appends after closing fail.
    func close() async
}

extension AuditStore {
    /// The policy history since `cutoff`, plus what every still pending verification needs however old it is
    /// (its `run.finished` and the resolutions since its run started), in chain order: a verification is never
    /// lost to the replay's horizon.
    public func policyHistoryWithPendingVerifications(since cutoff: Date) async throws -> [AuditRecord] {
        var records = try await policyHistory(since: cutoff)
        let pending = try await pendingVerificationRuns()
        guard let oldest = pending.map(\.started).min(), oldest < RFC3339.format(cutoff) else { return records }
        var seen = Set(records.map(\.seq))
        for run in pending {
            try await forEachRecord(
                where: AuditRecordFilter(runID: run.id, kinds: [.runFinished, .runVerified, .runUnverified])
            ) {
                if seen.insert($0.seq).inserted { records.append($0) }
            }
        }
        try await forEachRecord(where: AuditRecordFilter(since: oldest, kinds: [.alertResolved])) {
            if seen.insert($0.seq).inserted { records.append($0) }
        }
        return records.sorted { $0.seq < $1.seq }
    }
}

/// A position in the chain: a sequence number and the hash of the record there.
public struct AuditHead: Sendable, Equatable, CustomStringConvertible {
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

/// The result of recomputing the chain.
public struct AuditVerification: Sendable, Equatable {
    public var records: Int
    public var head: AuditHead?
    /// The first problem found, if any.
    public var problem: Problem?

    public var intact: Bool { problem == nil }

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
        case truncated(expected: AuditHead, last: Int64?)
        /// The record at the expected head's position has another hash.
        case headMismatch(expected: AuditHead, actual: String)

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
}

/// Recomputes the chain one record at a time, in sequence order, whatever store the records come from: the one
/// definition of "intact" that `medic audit verify` applies to SQLite and PostgreSQL alike.
public struct ChainVerifier: Sendable {
    private let checkpoint: AuditHead?
    private let expectHead: AuditHead?
    private var count = 0
    private var previous: AuditHead?
    private var problem: AuditVerification.Problem?
    private var expectedHeadHash: String?

    /// `checkpoint` is the newest `audit.checkpoint` left by a prune (it vouches for the removed start).
    public init(checkpoint: AuditHead?, expectHead: AuditHead?) {
        self.checkpoint = checkpoint
        self.expectHead = expectHead
    }

    public mutating func add(_ record: AuditRecord) {
        count += 1
        if let expectHead, record.seq == expectHead.seq { expectedHeadHash = record.hash }
        defer { previous = AuditHead(seq: record.seq, hash: record.hash) }
        guard problem == nil else { return }
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
            let computed = AuditChain.hash(prevHash: record.prevHash, canonical: record.canonical)
            if computed != record.hash {
                problem = .contentChanged(seq: record.seq, stored: record.hash, computed: computed)
            }
        }
    }

    public func finish() -> AuditVerification {
        var problem = self.problem
        if problem == nil, let expectHead {
            if let last = previous?.seq, last >= expectHead.seq {
                if let actual = expectedHeadHash, actual != expectHead.hash {
                    problem = .headMismatch(expected: expectHead, actual: actual)
                }
            } else {
                problem = .truncated(expected: expectHead, last: previous?.seq)
            }
        }
        return AuditVerification(records: count, head: previous, problem: problem)
    }

    /// The checkpoint a prune record's body names, if it is one.
    public static func checkpoint(fromBody body: String) -> AuditHead? {
        let value = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
        guard let seq = (value?["pruned_through_seq"] as? NSNumber)?.int64Value,
            let hash = value?["pruned_through_hash"] as? String
        else { return nil }
        return AuditHead(seq: seq, hash: hash)
    }
}

/// Which records an export or query covers.
public struct AuditRecordFilter: Sendable {
    public var since: String?
    public var until: String?
    public var runID: String?
    public var kind: String?
    /// Any of these kinds (with `kind`, both must hold).
    public var kinds: [AuditKind]?
    /// Only records after this sequence number (paging).
    public var afterSeq: Int64?
    /// At most this many records (paging, with `afterSeq`).
    public var limit: Int?

    public init(
        since: String? = nil, until: String? = nil, runID: String? = nil, kind: String? = nil,
        kinds: [AuditKind]? = nil, afterSeq: Int64? = nil, limit: Int? = nil
    ) {
        self.limit = limit
        self.kinds = kinds
        self.since = since
        self.until = until
        self.runID = runID
        self.kind = kind
        self.afterSeq = afterSeq
    }

    /// The WHERE clause (or "") and its arguments, with placeholders made by `placeholder(n)` for the n-th
    /// argument (1-based): `?` for SQLite, `$n` for PostgreSQL.
    public func whereClause(placeholder: (Int) -> String) -> (String, [String]) {
        var clauses: [String] = []
        var arguments: [String] = []
        func add(_ column: String, _ op: String, _ value: String) {
            arguments.append(value)
            clauses.append("\(column) \(op) \(placeholder(arguments.count))")
        }
        if let since { add("time", ">=", since) }
        if let until { add("time", "<", until) }
        if let runID { add("run_id", "=", runID) }
        if let kind { add("kind", "=", kind) }
        if let kinds {
            var list: [String] = []
            for kind in kinds {
                arguments.append(kind.rawValue)
                list.append(placeholder(arguments.count))
            }
            clauses.append(list.isEmpty ? "FALSE" : "kind IN (\(list.joined(separator: ", ")))")
        }
        if let afterSeq { clauses.append("seq > \(afterSeq)") }
        return (clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND "), arguments)
    }

    /// " LIMIT n" or "".
    public var limitClause: String { limit.map { " LIMIT \($0)" } ?? "" }
}

/// Counts for `medic audit stats`.
public struct AuditStats: Sendable {
    public struct RunbookStats: Sendable {
        public var runbook: String
        public var outcomes: [String: Int]
        public var total: Int { outcomes.values.reduce(0, +) }
        public var succeeded: Int { outcomes["succeeded"] ?? 0 }
        /// Succeeded out of finished runs that acted (shadowed and suppressed excluded).
        public var successRate: Double? {
            let acted = outcomes.filter { !["shadowed", "suppressed", "running"].contains($0.key) }.values.reduce(0, +)
            return acted == 0 ? nil : Double(succeeded) / Double(acted)
        }
        public var medianMilliseconds: Int?
        public var p95Milliseconds: Int?
        /// Runs with `verify` whose proof was decided: verified and unverified.
        public var verified = 0
        public var unverified = 0
        /// Verified out of decided (nil when none was decided).
        public var verifiedRate: Double? {
            verified + unverified == 0 ? nil : Double(verified) / Double(verified + unverified)
        }
        /// Time to resolve (from the alert's `startsAt` to the proof) of verified runs: p50 and p90.
        public var resolveP50Milliseconds: Int?
        public var resolveP90Milliseconds: Int?

        public init(runbook: String, outcomes: [String: Int], medianMilliseconds: Int? = nil, p95Milliseconds: Int? = nil) {
            self.runbook = runbook
            self.outcomes = outcomes
            self.medianMilliseconds = medianMilliseconds
            self.p95Milliseconds = p95Milliseconds
        }
    }

    public var runbooks: [RunbookStats]
    public var suppressed: [String: Int]

    public init(runbooks: [RunbookStats], suppressed: [String: Int]) {
        self.runbooks = runbooks
        self.suppressed = suppressed
    }

    /// The 0-based position of percentile `p` among `count` sorted values (nearest rank, rounded), the same in
    /// every store.
    public static func percentileOffset(count: Int, _ p: Double) -> Int {
        min(count - 1, Int((Double(count - 1) * p).rounded()))
    }

    /// The `reason` of a `decision.suppressed` body ("unknown" when it has none).
    public static func suppressionReason(body: String) -> String {
        let value = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
        return (value?["reason"] as? String) ?? "unknown"
    }
}

/// What a prune removed and the checkpoint that keeps the chain verifiable.
public struct AuditPruneResult: Sendable, Equatable {
    public var removed: Int
    public var checkpoint: AuditHead?

    public init(removed: Int, checkpoint: AuditHead?) {
        self.removed = removed
        self.checkpoint = checkpoint
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

/// Chaining records: the hash of each is computed the same way by every store and by the verifier.
public enum AuditChain {
    public static func hash(prevHash: String, canonical: String) -> String {
        var hasher = SHA256()
        hasher.update(data: Data(prevHash.utf8))
        hasher.update(data: Data(canonical.utf8))
        return Hex.encode(hasher.finalize())
    }

    /// `event` as the record at `seq` after a record whose hash is `prevHash`.
    public static func chain(_ event: AuditEvent, seq: Int64, prevHash: String) -> AuditRecord {
        let time = RFC3339.format(event.time)
        let body = JSONValue.object(event.body).compact
        let runID = event.runID.isEmpty ? nil : event.runID
        let canonical = AuditRecord.canonical(seq: seq, time: time, kind: event.kind.rawValue, runID: runID, body: body)
        return AuditRecord(
            seq: seq, time: time, kind: event.kind.rawValue, runID: runID, body: body, prevHash: prevHash,
            hash: hash(prevHash: prevHash, canonical: canonical))
    }
}
