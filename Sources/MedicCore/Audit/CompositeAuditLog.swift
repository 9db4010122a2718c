/// Writes each event to several logs in order (for example the SQLite log and a JSON Lines mirror).
public struct CompositeAuditLog: AuditLog {
    public var logs: [any AuditLog]

    public init(_ logs: [any AuditLog]) {
        self.logs = logs
    }

    public func append(_ event: AuditEvent) async throws {
        for log in logs {
            try await log.append(event)
        }
    }

    public func append(batch events: [AuditEvent]) async throws {
        for log in logs {
            try await log.append(batch: events)
        }
    }
}
