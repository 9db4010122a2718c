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
}

extension AuditLog {
    public func append(batch events: [AuditEvent]) async throws {
        for event in events { try await append(event) }
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
