import Foundation
import Logging
import MedicCore
import MedicExecution
import MedicServer
import Synchronization
import Testing

/// Reloading the runbook set: a set with errors or an unreadable directory is rejected whole, with lines an
/// operator can act on; a good set replaces the dispatcher's and is counted.
@Suite struct RunbookReloaderTests {
    struct Unreadable: Error {}

    static func reloader(
        _ load: @escaping RunbookReloader.Load, metrics: ServerMetrics = ServerMetrics(),
        replaced: @escaping @Sendable () -> Void = {}
    ) -> RunbookReloader {
        RunbookReloader(
            directory: "runbooks", load: load,
            dispatcher: Dispatcher(runbooks: [], audit: InMemoryAuditLog(), environment: [:]), metrics: metrics,
            logger: Logger(label: "test"), replaced: replaced)
    }

    @Test("a set with errors is rejected with file:line:col lines")
    func rejected() async throws {
        let source = RunbookSource.check(
            data: Data("runbook: x\nsteps:\n  - id: a\n    retires: 1\n".utf8), path: "x.yaml")
        let errors = source.diagnostics.filter { $0.severity == .error }
        try #require(!errors.isEmpty)
        let result = await Self.reloader({ _ in ([], errors) }).reload()
        guard case .rejected(let lines) = result else {
            Issue.record("expected a rejection, got \(result)")
            return
        }
        #expect(lines.count == errors.count)
        #expect(lines[0].hasPrefix("x.yaml:4:5: "), "\(lines)")
        #expect(lines.contains { $0.contains("did you mean 'retry'?") })
    }

    @Test("an unreadable directory is rejected; a good set is loaded, counted, and the old one let go")
    func loadedOrUnreadable() async throws {
        let unreadable = await Self.reloader({ _ in throw Unreadable() }).reload()
        guard case .rejected(let lines) = unreadable else {
            Issue.record("expected a rejection")
            return
        }
        #expect(lines == ["runbooks cannot be read"])

        let text = "runbook: x\nsteps:\n  - id: a\n    run: [true]\n"
        let runbook = try #require(RunbookSource.check(data: Data(text.utf8), path: "x.yaml").runbook)
        let metrics = ServerMetrics()
        let replaced = Mutex(0)
        let loaded = await Self.reloader(
            { _ in ([runbook], []) }, metrics: metrics, replaced: { replaced.withLock { $0 += 1 } }
        ).reload()
        guard case .loaded(let count) = loaded else {
            Issue.record("expected the set to load")
            return
        }
        #expect(count == 1)
        #expect(replaced.withLock { $0 } == 1)
        #expect(metrics.exposition().contains(#"medic_reloads_total{result="loaded"} 1"#))
    }
}
