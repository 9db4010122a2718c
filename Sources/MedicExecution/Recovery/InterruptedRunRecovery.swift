import Foundation
import MedicCore

/// Rolls back runs that a dead Medic left behind and whose runbook says `policy.on_interrupt: rollback`:
/// the succeeded steps are undone in reverse order, as a failure would undo them, and the run is closed.
public struct InterruptedRunRecovery: Sendable {
    public let executor: Executor
    public let runbooks: [String: Runbook]
    public let environment: [String: String]

    public init(executor: Executor, runbooks: [Runbook], environment: [String: String]) {
        self.executor = executor
        self.runbooks = Dictionary(runbooks.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        self.environment = environment
    }

    /// Recovers one claimed run from its records. Ends `interrupted` when every rollback succeeded (or there
    /// was nothing to undo), `rollback_failed` when one failed or none could be attempted: then a human must
    /// look at the target, and the `reason` says why.
    @discardableResult
    public func recover(_ runID: String, records: [AuditRecord]) async throws -> RunOutcome {
        let reason = "medic stopped mid-run; on_interrupt: rollback"
        func close(_ why: String) async throws -> RunOutcome {
            try await executor.audit.append(
                AuditEvent(
                    time: Date(), kind: .runFinished, runID: runID,
                    body: [
                        "outcome": .string(RunOutcome.rollbackFailed.rawValue),
                        "reason": .string("\(reason), but nothing was rolled back: \(why)"),
                    ]))
            return .rollbackFailed
        }
        guard let run = InterruptedRun(records: records) else {
            return try await close("the run has no run.started record")
        }
        guard let runbook = runbooks[run.runbook] else {
            return try await close("runbook '\(run.runbook)' is no longer loaded")
        }
        guard runbook.policy.onInterrupt == .rollback else {
            return try await close("runbook '\(run.runbook)' no longer says on_interrupt: rollback")
        }
        switch run.prepare(with: runbook, environment: environment) {
        case .failure(let problems):
            return try await close(problems.description)
        case .success(let (prepared, succeeded)):
            do {
                return try await executor.run(
                    prepared, recordStart: false, startWith: .recoverInterrupted(succeeded: succeeded),
                    finishFields: ["reason": .string(reason)]
                ).outcome
            } catch {
                throw error.underlying
            }
        }
    }
}
