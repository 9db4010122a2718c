import MedicCore

/// Runs the `readonly: true` steps of a prepared run for `medic plan --probe`, in graph order. A readonly step
/// is probed only when every step it needs was probed too (a probe must not depend on a change), and when
/// its `when` holds; nothing else is ever started.
public struct Prober: Sendable {
    public var runner: any ProcessRunner

    public init(runner: any ProcessRunner = SubprocessRunner()) {
        self.runner = runner
    }

    public func probe(_ prepared: PreparedRun) async -> [String: AttemptResult] {
        var results: [String: AttemptResult] = [:]
        var machine = RunStateMachine(
            runbook: prepared.runbook, graph: prepared.graph, context: prepared.context,
            baseEnvironment: prepared.baseEnvironment, maxParallel: 1, targets: prepared.targets)
        var context = prepared.context
        for id in prepared.graph.topologicalOrder {
            guard let step = prepared.runbook.step(withID: id), step.readonly else { continue }
            guard prepared.graph.ancestors(of: id).allSatisfy({ results[$0] != nil }) else { continue }
            if let condition = step.when, !condition.evaluate(in: context) { continue }
            machine.context = context
            let request = machine.request(for: id, phase: .main, attempt: 1)
            let result = await runner.run(request, stop: StopSignal())
            results[id] = result
            context.steps[id] = StepOutputs(probed: result)
        }
        return results
    }
}
