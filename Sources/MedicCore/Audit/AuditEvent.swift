import Foundation

/// One fact for the audit log: when, what kind, which run, and a JSON body (already redacted).
public struct AuditEvent: Sendable, Equatable {
    public var time: Date
    public var kind: AuditKind
    public var runID: String
    public var body: [String: JSONValue]

    public init(time: Date, kind: AuditKind, runID: String, body: [String: JSONValue]) {
        self.time = time
        self.kind = kind
        self.runID = runID
        self.body = body
    }

    /// One line of compact JSON with sorted keys (`time`, `kind`, `run_id` and the body's fields).
    public var jsonLine: String {
        var members = body
        members["time"] = .string(RFC3339.format(time))
        members["kind"] = .string(kind.rawValue)
        members["run_id"] = .string(runID)
        return JSONValue.object(members).compact
    }
}

/// Where audit events go. The durable SQLite log and, later, a PostgreSQL one conform; so does an in-memory
/// log for tests. Appending throws only when the machinery breaks (disk full, database gone).
public protocol AuditLog: Sendable {
    func append(_ event: AuditEvent) async throws
    /// Appends several events at once: a durable log commits them in one transaction (one fsync).
    func append(batch events: [AuditEvent]) async throws
    /// This log as one shared with other writers (several replicas on one PostgreSQL), if it is; a wrapper
    /// answers for the log it wraps.
    var asShared: (any SharedAuditLog)? { get }
}

extension AuditLog {
    public var asShared: (any SharedAuditLog)? { self as? any SharedAuditLog }

    public func append(batch events: [AuditEvent]) async throws {
        for event in events { try await append(event) }
    }
}

/// A log that several writers (Medic replicas) append to, each deciding against what the others recorded.
///
/// A replica's decisions are made under the lock that orders the chain: the log takes the lock, reads the policy
/// records (`AuditKind.policyHistory`) the other writers appended since this one last looked, hands them to
/// `deciding`, which takes them in and returns the decision records, and appends those in the same transaction.
/// Two replicas can never both record a run for one alert, and nobody waits on a decision made elsewhere for
/// longer than that one transaction.
public protocol SharedAuditLog: AuditLog {
    /// Appends what `deciding` returns, having handed it every other writer's policy record after
    /// `seenThrough`; returns the sequence number through which this writer has now seen everything that
    /// matters to it.
    func append(
        seenThrough: Int64, deciding: @escaping @Sendable (ForeignDecisions) async -> [AuditEvent]
    ) async throws -> Int64
    /// Policy records other writers appended after `seq`, oldest first, at most `limit`.
    func foreignPolicyRecords(after seq: Int64, limit: Int) async throws -> [AuditRecord]
    /// The last sequence number now.
    func lastSequence() async throws -> Int64
    /// A run that another live writer holds and that has not finished, or nil: where an approval or a cancel
    /// this writer cannot serve must go.
    func runElsewhere(_ runID: String) async throws -> RunElsewhere?
}

/// A run held by another replica.
public struct RunElsewhere: Sendable, Equatable {
    public var replica: String
    /// Decided `awaiting_approval` and neither approved, started nor finished since.
    public var awaitingApproval: Bool

    public init(replica: String, awaitingApproval: Bool) {
        self.replica = replica
        self.awaitingApproval = awaitingApproval
    }
}

/// Other writers' policy records, in chain order.
public struct ForeignDecisions: Sendable {
    public var records: [AuditRecord]
    /// Everything the other writers appended up to here is in `records` (or does not matter to policy).
    public var through: Int64

    public init(records: [AuditRecord], through: Int64) {
        self.records = records
        self.through = through
    }
}
/// Keeps events in memory, in order.
public actor InMemoryAuditLog: AuditLog {
    public private(set) var events: [AuditEvent] = []

    public init() {}

    public func append(_ event: AuditEvent) async throws {
        events.append(event)
    }

    /// One run's events as stored records (unchained: sequence numbers, no hashes), as a store would read them
    /// back.
    public func records(run runID: String) -> [AuditRecord] {
        records(all: true).filter { $0.runID == runID }
    }

    /// Every event as a stored record (unchained), oldest first: what a restart replays.
    public func records(all: Bool) -> [AuditRecord] {
        events.enumerated().map { index, event in
            AuditRecord(
                seq: Int64(index + 1), time: RFC3339.format(event.time), kind: event.kind.rawValue,
                runID: event.runID.isEmpty ? nil : event.runID,
                body: JSONValue.object(event.body).compact, prevHash: "", hash: "")
        }
    }
}
