import Dispatch
import MedicCore
import Synchronization

/// Commits the appends of concurrent callers together: while one transaction is being written (and fsynced),
/// the events that arrive queue up, and the next transaction takes all of them at once. Each caller resumes
/// when its own events are durable, or with the error that kept their transaction from committing (then none
/// of that transaction was written). The writing happens on a thread of its own, so a slow disk never holds
/// up the tasks that serve HTTP.
final class GroupCommit: Sendable {
    private let state = Mutex(CommitQueue())
    private let queue = DispatchQueue(label: "medic.audit.group-commit", qos: .userInitiated)
    /// Writes one transaction holding all of `events`, in order.
    private let write: @Sendable ([AuditEvent]) throws -> Void
    /// The most events in one transaction (bounds a transaction's size under a flood).
    private let limit: Int

    /// Write on the caller's thread when nobody else is writing (a CLI run); a server keeps its tasks free.
    private let inlineWhenIdle: Bool

    init(limit: Int = 2_000, inlineWhenIdle: Bool = false, write: @escaping @Sendable ([AuditEvent]) throws -> Void) {
        self.limit = limit
        self.inlineWhenIdle = inlineWhenIdle
        self.write = write
    }

    /// Returns once `events` are committed. Cancelling the calling task does not abandon them: records of a
    /// run being torn down are exactly the ones that must be written.
    func append(_ events: [AuditEvent]) async throws {
        guard !events.isEmpty else { return }
        if inlineWhenIdle {
            // Nobody else is writing: write on the caller's thread and skip the hand-off.
            let idle = state.withLock { state -> Bool in
                guard !state.writing, state.waiting.isEmpty else { return false }
                state.writing = true
                return true
            }
            if idle {
                defer {
                    let pending = state.withLock { state -> Bool in
                        if state.waiting.isEmpty { state.writing = false }
                        return !state.waiting.isEmpty
                    }
                    if pending { queue.async { self.drain() } }
                }
                try write(events)
                return
            }
        }
        try await withCheckedThrowingContinuation { (resume: CheckedContinuation<Void, any Error>) in
            if state.withLock({ $0.enqueue(events, resume: resume) }) { queue.async { self.drain() } }
        }
    }

    private func drain() {
        while true {
            let batch = state.withLock { $0.nextBatch(limit: limit) }
            guard !batch.isEmpty else { return }
            batch.finish(Result { try write(batch.events) })
        }
    }
}
