import Dispatch
import Foundation
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

/// SQLite's synchronous reads satisfy the store seam directly (a command waits on them anyway); the server's
/// request-time reads go through `RunHistory`, which runs them on the log's reader thread.
extension SQLiteAuditLog: AuditStore {
    public var location: String { path }

    public func isReachable() async -> Bool {
        (try? await reading { try $0.head() != nil || $0.count() == 0 }) ?? false
    }

    /// The pool closes when the log is released.
    public func close() async {}
}

/// The short forms, synchronous on SQLite (the seam's own are async).
extension SQLiteAuditLog {
    public func verify() throws -> AuditVerification { try verify(expectHead: nil) }

    @discardableResult
    public func markInterruptedRuns() throws -> AbandonedRuns { try markInterruptedRuns(now: Date(), recovering: false) }

    public func markInterruptedRuns(recovering: Bool) throws -> AbandonedRuns {
        try markInterruptedRuns(now: Date(), recovering: recovering)
    }

    public func forEachRecord(_ body: (AuditRecord) throws -> Void) throws {
        try forEachRecord(where: AuditRecordFilter(), body)
    }
}
