import ServiceLifecycle
import UnixSignals

/// Reloads the runbooks on SIGHUP, as daemons do.
public struct ReloadOnHangupService: Service {
    public let reload: @Sendable () async -> Void

    public init(reload: @escaping @Sendable () async -> Void) {
        self.reload = reload
    }

    public func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        try await cancelWhenGracefulShutdown {
            for await _ in hangups {
                await reload()
            }
        }
    }
}
