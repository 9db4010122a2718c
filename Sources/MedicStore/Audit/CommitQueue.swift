import MedicCore

/// The waiting room of a group committer: callers' events queue up while a transaction is written, and the next
/// transaction takes as many whole callers as fit in `limit` events. Shared by `GroupCommit` (SQLite, written on
/// a thread of its own) and the PostgreSQL store's async committer; each keeps it behind its own lock.
package struct CommitQueue: Sendable {
    package struct Waiter: Sendable {
        var events: [AuditEvent]
        var resume: CheckedContinuation<Void, any Error>
    }

    package private(set) var waiting: [Waiter] = []
    /// A writer is at work (or about to be): arrivals only queue.
    package var writing = false

    package init() {}

    /// Queues a caller's events; true when no writer is at work and the caller must start one (it now is).
    package mutating func enqueue(_ events: [AuditEvent], resume: CheckedContinuation<Void, any Error>) -> Bool {
        waiting.append(Waiter(events: events, resume: resume))
        defer { writing = true }
        return !writing
    }

    /// The next transaction's callers, oldest first: at least one, then as many as fit in `limit` events. Empty
    /// when nobody waits, and then the writer is done (`writing` is cleared).
    package mutating func nextBatch(limit: Int) -> [Waiter] {
        var taken: [Waiter] = []
        var count = 0
        while let next = waiting.first, taken.isEmpty || count + next.events.count <= limit {
            taken.append(waiting.removeFirst())
            count += next.events.count
        }
        if taken.isEmpty { writing = false }
        return taken
    }
}

extension [CommitQueue.Waiter] {
    /// All of the batch's events, in order.
    package var events: [AuditEvent] { flatMap(\.events) }

    /// Resumes every caller of the batch with its transaction's result.
    package func finish(_ result: Result<Void, any Error>) {
        for waiter in self { waiter.resume.resume(with: result) }
    }
}
