import Foundation

/// Runs CPU-heavy test work (seconds of regex vectors in a debug build) on a thread of its own, so that it
/// does not hold one of the two cooperative threads a 2-core machine has while other suites' timers and
/// process watchers wait for them.
func offCooperativePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do {
                continuation.resume(returning: try body())
            } catch {
                continuation.resume(throwing: error)
            }
        }
        thread.stackSize = 8 << 20
        thread.start()
    }
}
