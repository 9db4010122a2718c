import Dispatch
import MedicCore

extension SQLiteAuditLog: RunHistory {
    public func runs(matching filter: RunFilter) async throws -> [RunSummary] {
        try await reading { try $0.runs(filter) }
    }

    public func summary(ofRun id: String) async throws -> RunSummary? {
        try await reading { try $0.run(id: id) }
    }

    public func records(ofRun id: String) async throws -> [AuditRecord] {
        try await reading { try $0.records(run: id) }
    }

    /// Runs a blocking read on the log's own reader thread and resumes the caller when it is done, so a server's
    /// cooperative threads never wait on SQLite (a slow disk or a long query would stall every request).
    public func reading<Value: Sendable>(
        _ body: @escaping @Sendable (SQLiteAuditLog) throws -> Value
    ) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            readQueue.async { continuation.resume(with: Result { try body(self) }) }
        }
    }
}
