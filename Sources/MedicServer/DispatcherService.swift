import MedicExecution
import ServiceLifecycle

/// Runs the dispatcher's execution loop as a service next to the HTTP server. On graceful shutdown (SIGTERM,
/// SIGINT) no new run starts, running runs get the dispatcher's grace period, then they are torn down, rolled
/// back and recorded as cancelled.
public struct DispatcherService: Service {
    public let dispatcher: Dispatcher

    public init(dispatcher: Dispatcher) {
        self.dispatcher = dispatcher
    }

    public func run() async throws {
        let dispatcher = self.dispatcher
        await withGracefulShutdownHandler {
            await dispatcher.run()
        } onGracefulShutdown: {
            dispatcher.shutDown()
        }
    }
}
