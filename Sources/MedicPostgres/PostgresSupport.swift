import Foundation
import MedicCore
import MedicStore
import PostgresNIO
import Synchronization

/// Commits the appends of concurrent callers together, as `GroupCommit` does for SQLite: while one transaction
/// is under way, arriving events queue up and the next transaction takes all of them. The writing happens in a
/// task of its own, so cancelling a caller never abandons its events (the records of a run being torn down are
/// exactly the ones that must be written). Each caller resumes when its events are committed, or with the error
/// that kept their transaction from committing.
final class AsyncGroupCommit: Sendable {
    private let state = Mutex(CommitQueue())
    private let limit: Int
    private let write: @Sendable ([AuditEvent]) async throws -> Void

    init(limit: Int = 2_000, write: @escaping @Sendable ([AuditEvent]) async throws -> Void) {
        self.limit = limit
        self.write = write
    }

    func append(_ events: [AuditEvent]) async throws {
        guard !events.isEmpty else { return }
        try await withCheckedThrowingContinuation { (resume: CheckedContinuation<Void, any Error>) in
            if state.withLock({ $0.enqueue(events, resume: resume) }) { Task.detached { await self.drain() } }
        }
    }

    private func drain() async {
        while true {
            let batch = state.withLock { $0.nextBatch(limit: limit) }
            guard !batch.isEmpty else { return }
            do {
                try await write(batch.events)
                batch.finish(.success(()))
            } catch {
                batch.finish(.failure(error))
            }
        }
    }
}

/// Did not finish in time: the database did not answer (unreachable, or a lock held elsewhere).
public struct PostgresTimeout: Error, CustomStringConvertible {
    public var what: String
    public var after: Duration
    public var description: String { "\(what): no answer from PostgreSQL within \(after)" }
}

/// Runs `body`, giving up after `limit`: the caller gets `PostgresTimeout` and `body`'s task is cancelled. A
/// query stuck on a dead connection would otherwise hold its caller (an HTTP request, a run) for as long as TCP
/// takes to notice.
func withDeadline<T: Sendable>(
    _ limit: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let claimed = Mutex(false)
    let claim: @Sendable () -> Bool = { claimed.withLock { done in defer { done = true }; return !done } }
    return try await withCheckedThrowingContinuation { continuation in
        let timer = Mutex<Task<Void, Never>?>(nil)
        let work = Task {
            do {
                let value = try await body()
                if claim() { continuation.resume(returning: value) }
            } catch {
                if claim() { continuation.resume(throwing: error) }
            }
            // The timer has nothing left to do: end it now rather than after `limit`.
            timer.withLock { $0?.cancel() }
        }
        timer.withLock {
            $0 = Task {
                try? await Task.sleep(for: limit)
                if claim() {
                    work.cancel()
                    continuation.resume(throwing: PostgresTimeout(what: what, after: limit))
                }
            }
        }
    }
}

/// PostgreSQL's own words for an error: postgres-nio's errors print a generic text (to keep queries out of
/// logs), which says nothing an operator can act on.
public func describePostgresError(_ error: any Error) -> String {
    if let error = error as? PostgresTransactionError {
        if let inner = error.closureError ?? error.commitError ?? error.beginError { return describePostgresError(inner) }
    }
    if let error = error as? PSQLError {
        if let info = error.serverInfo {
            var text = info[.message] ?? "server error"
            if let detail = info[.detail] { text += " (\(detail))" }
            if let state = info[.sqlState] { text += " [SQLSTATE \(state)]" }
            return text
        }
        if let underlying = error.underlying { return "\(error.code): \(underlying)" }
        return "\(error.code)"
    }
    return "\(error)"
}
