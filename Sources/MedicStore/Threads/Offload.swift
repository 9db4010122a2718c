import Dispatch

/// Runs blocking work (a SQLite read or open, `flock`, `fsync`, a directory parse) on a thread of Dispatch's
/// instead of one of the async runtime's few cooperative threads, which a blocked call would take from every
/// other task (HTTP handlers, running steps) for as long as it blocks.
public func offload<T: Sendable>(
    _ label: String = "medic.blocking", _ work: @escaping @Sendable () throws -> T
) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global(qos: .userInitiated).async {
            continuation.resume(with: Result { try work() })
        }
    }
}
