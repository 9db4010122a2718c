import MedicExecution

/// Runs `body` while the dispatcher's run loop executes, then finishes its queue and waits for the loop.
func withDispatcher(_ dispatcher: Dispatcher, _ body: @Sendable (Dispatcher) async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await dispatcher.run() }
        try await body(dispatcher)
        await dispatcher.finishQueue()
        try await group.waitForAll()
    }
}
