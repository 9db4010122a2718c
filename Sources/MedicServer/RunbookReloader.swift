import Dispatch
import Logging
import MedicCore
import MedicExecution

/// Reloads the runbook directory into the dispatcher (`POST /-/reload`, SIGHUP). The directory is parsed on a
/// dispatch queue of its own, off the async runtime's threads; a set with errors is rejected whole and the loaded
/// one stays.
public struct RunbookReloader: Sendable {
    /// Reads a directory: the runbooks, or the errors that keep them from loading; throws when it cannot be read.
    public typealias Load = @Sendable (String) throws -> (runbooks: [Runbook], errors: [Diagnostic])

    public let directory: String
    let load: Load
    let dispatcher: Dispatcher
    let metrics: ServerMetrics
    let logger: Logger
    /// Called after a new set replaced the old one (to give the old set's memory back).
    let replaced: @Sendable () -> Void

    public init(
        directory: String, load: @escaping Load, dispatcher: Dispatcher, metrics: ServerMetrics, logger: Logger,
        replaced: @escaping @Sendable () -> Void = {}
    ) {
        self.directory = directory
        self.load = load
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.logger = logger
        self.replaced = replaced
    }

    private static let parsing = DispatchQueue(label: "medic.reload")

    public func reload() async -> IntakeServer.ReloadResult {
        let directory = self.directory
        let load = self.load
        let loaded = await withCheckedContinuation { continuation in
            Self.parsing.async { continuation.resume(returning: try? load(directory)) }
        }
        guard let (reloaded, errors) = loaded else {
            logger.error("reload rejected: \(directory) cannot be read; keeping the loaded runbooks")
            metrics.reloaded(succeeded: false)
            return .rejected(diagnostics: ["\(directory) cannot be read"])
        }
        guard errors.isEmpty else {
            let lines = errors.map {
                "\($0.file ?? directory):\($0.location?.line ?? 1):\($0.location?.column ?? 1): \($0.text) [\($0.id)]"
            }
            logger.error(
                "reload rejected, keeping the loaded runbooks",
                metadata: ["diagnostics": .array(lines.map { .string($0) })])
            metrics.reloaded(succeeded: false)
            return .rejected(diagnostics: lines)
        }
        await dispatcher.replaceRunbooks(reloaded)
        replaced()
        metrics.runbooksLoaded(reloaded.count)
        metrics.reloaded(succeeded: true)
        logger.info("reloaded \(reloaded.count) runbooks from \(directory)")
        return .loaded(runbooks: reloaded.count)
    }
}
