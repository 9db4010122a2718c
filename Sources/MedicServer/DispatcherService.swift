import MedicExecution
import ServiceLifecycle

/// Runs the dispatcher's execution loop as a service next to the HTTP server. On graceful shutdown the loop
/// is cancelled: running runs are torn down, rolled back and recorded as cancelled.
public struct DispatcherService: Service {
    public let dispatcher: Dispatcher

    public init(dispatcher: Dispatcher) {
        self.dispatcher = dispatcher
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            await dispatcher.run()
        }
    }
}
