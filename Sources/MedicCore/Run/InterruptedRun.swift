import Foundation

/// A run whose Medic process died before its end, read back from its audit records, so that a runbook with
/// `policy.on_interrupt: rollback` can have its succeeded steps undone by the next `medic serve`.
public struct InterruptedRun: Sendable, Equatable {
    public var runID: String
    public var runbook: String
    public var initiator: String
    /// Params as recorded; secret ones (`***`) are left out and resolved again from their sources.
    public var recordedParams: [String: String]
    public var alert: Alert?
    /// Steps that succeeded, in the order they did.
    public var succeeded: [String]
    /// What those steps printed, as recorded (redacted, at most 64 KiB each), for rollback templates.
    public var outputs: [String: StepOutputs]
    /// Steps whose rollback already succeeded (a recovery that was itself interrupted).
    public var rolledBack: Set<String>

    /// Reads the records of one run; nil when they do not start with `run.started`.
    public init?(records: [AuditRecord]) {
        guard let first = records.first(where: { $0.auditKind == .runStarted }), let runID = first.runID,
            let started = first.body(as: RunStartedBody.self)
        else {
            return nil
        }
        self.runID = runID
        runbook = started.runbook
        initiator = started.initiator ?? ""
        recordedParams = (started.params ?? [:]).filter { $0.value != Redactor.mask }
        if let alert = started.alert, let labels = alert.labels {
            self.alert = Alert(
                source: .json, status: Alert.Status(rawValue: alert.status ?? "") ?? .firing, labels: labels,
                fingerprint: alert.fingerprint)
        }
        succeeded = []
        outputs = [:]
        rolledBack = []
        var lastMain: [String: AttemptFinishedBody] = [:]
        for record in records {
            if let attempt = record.body(as: AttemptFinishedBody.self), attempt.phase == .main {
                lastMain[attempt.step] = attempt
            } else if let step = record.body(as: StepFinishedBody.self), step.status == "succeeded" {
                succeeded.append(step.step)
                let attempt = lastMain[step.step]
                outputs[step.step] = StepOutputs(
                    stdout: attempt?.stdout ?? "", stderr: attempt?.stderr ?? "", exitCode: attempt?.exitCode ?? 0,
                    status: "succeeded")
            } else if let rollback = record.body(as: RollbackFinishedBody.self), rollback.succeeded {
                rolledBack.insert(rollback.step)
            }
        }
    }

    /// The run made ready to roll back with `runbook` as loaded now: params resolved again (recorded values
    /// first, then their sources, so secrets come back from the environment), step outputs restored.
    /// Returns the steps to undo, in the order they succeeded.
    public func prepare(with runbook: Runbook, environment: [String: String]) -> Result<
        (run: PreparedRun, succeeded: [String]), PreparedRun.Problems
    > {
        let known = Set(runbook.params.map(\.name))
        switch PreparedRun.prepare(
            runbook, runID: runID, given: recordedParams.filter { known.contains($0.key) }, alert: alert,
            environment: environment)
        {
        case .failure(let problems): return .failure(problems)
        case .success(var prepared):
            for (step, output) in outputs { prepared.context.steps[step] = output }
            let steps = Set(runbook.steps.map(\.id))
            let missing = succeeded.filter { !steps.contains($0) }
            guard missing.isEmpty else {
                return .failure(
                    PreparedRun.Problems(messages: [
                        "runbook '\(runbook.id)' no longer has step(s) \(missing.joined(separator: ", ")) that succeeded"
                    ]))
            }
            return .success((prepared, succeeded.filter { !rolledBack.contains($0) }))
        }
    }
}
