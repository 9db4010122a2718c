import Foundation

/// A runbook made ready for one run (or plan): params resolved and checked, the graph built, the base
/// environment assembled, and a redactor for its secrets.
public struct PreparedRun: Sendable {
    public var runbook: Runbook
    public var graph: StepGraph
    public var context: RunContext
    public var params: ParamResolver.Resolved
    /// PATH, LANG and the `inherit_env` variables; each step adds MEDIC_* and its own `env`.
    public var baseEnvironment: [String: String]
    public var redactor: Redactor
    /// Where each step runs that does not run here (step id -> its SSH target, host rendered and checked).
    public var targets: [String: ResolvedTarget] = [:]
    /// Set last in every step's environment, over Medic's own `MEDIC_*` (an escalation names the run it
    /// escalates).
    public var environmentOverrides: [String: String] = [:]

    /// Why a run cannot be prepared.
    public struct Problems: Error, Sendable, Equatable, CustomStringConvertible {
        public var messages: [String]
        public var description: String { messages.joined(separator: "\n") }
    }

    public static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// - Parameters:
    ///   - given: `--param` values.
    ///   - environment: Medic's own environment (for `from: env.*`, PATH, LANG and `inherit_env`).
    public static func prepare(
        _ runbook: Runbook, runID: String, given: [String: String], alert: Alert?, environment: [String: String]
    ) -> Result<PreparedRun, Problems> {
        let graph: StepGraph
        switch StepGraph.build(runbook.steps) {
        case .success(let built): graph = built
        case .failure:
            return .failure(
                Problems(messages: ["runbook '\(runbook.id)' has an invalid step graph; run medic validate"]))
        }
        let resolved: ParamResolver.Resolved
        switch ParamResolver.resolve(runbook, given: given, alert: alert, environment: environment) {
        case .success(let values): resolved = values
        case .failure(let problems): return .failure(Problems(messages: problems.items.map(\.description)))
        }
        var base: [String: String] = [
            "PATH": environment["PATH"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultPath,
            "LANG": environment["LANG"].flatMap { $0.isEmpty ? nil : $0 } ?? "C.UTF-8",
        ]
        for name in runbook.policy.inheritEnv {
            if let value = environment[name] { base[name] = value }
        }
        let context = RunContext(runID: runID, params: resolved.values, alert: alert)
        var targets: [String: ResolvedTarget] = [:]
        var problems: [String] = []
        for step in runbook.steps {
            switch resolveTarget(runbook.target(of: step), in: context) {
            case .success(let target): targets[step.id] = target
            case .failure(let problem): problems.append("target of step \(step.id): \(problem.reason)")
            }
        }
        if !problems.isEmpty { return .failure(Problems(messages: problems)) }
        var prepared = PreparedRun(
            runbook: runbook, graph: graph, context: context, params: resolved, baseEnvironment: base,
            redactor: Redactor(secrets: resolved.secrets))
        prepared.targets = targets
        return .success(prepared)
    }

    /// Why a target's host cannot be used.
    public struct TargetProblem: Error, Sendable, Equatable {
        public var reason: String
        public init(reason: String) { self.reason = reason }
    }

    /// `target` with its host rendered and checked; nil for a local one.
    static func resolveTarget(_ target: StepTarget?, in context: RunContext) -> Result<ResolvedTarget?, TargetProblem> {
        guard case .ssh(let ssh) = target else { return .success(nil) }
        let host = ssh.host.render(in: context)
        if let problem = SSHTarget.problem(withHost: host) { return .failure(TargetProblem(reason: problem)) }
        return .success(ResolvedTarget(host: host, user: ssh.user, port: ssh.port))
    }

    /// The step id a `verify.probe` runs as.
    public static let probeStepID = "verify-probe"

    /// The run's `verify.probe` as a run of its own: one step, `verify-probe`, with this run's params, alert,
    /// environment and redactor, on the runbook's target. nil when the runbook has no probe.
    public func probeRun() -> Result<PreparedRun, TargetProblem>? {
        guard let probe = runbook.verify?.probe else { return nil }
        let step = Step(id: Self.probeStepID, body: probe.body)
        var copy = self
        copy.runbook = Runbook(
            id: runbook.id, params: runbook.params, policy: runbook.policy, steps: [step], target: runbook.target)
        copy.runbook.verify = runbook.verify
        guard case .success(let graph) = StepGraph.build([step]) else {
            return .failure(TargetProblem(reason: "the probe cannot form a step graph"))
        }
        copy.graph = graph
        copy.targets = [:]
        switch Self.resolveTarget(runbook.target, in: context) {
        case .success(let target): if let target { copy.targets[step.id] = target }
        case .failure(let problem): return .failure(problem)
        }
        return .success(copy)
    }

    /// Attempt `attempt` of the single step of a `probeRun()`.
    public func probeRequest(attempt: Int) -> AttemptRequest {
        RunStateMachine(
            runbook: runbook, graph: graph, context: context, baseEnvironment: baseEnvironment, targets: targets
        ).request(for: Self.probeStepID, phase: .main, attempt: attempt)
    }

    /// A fresh run id: time-ordered, unique enough across replicas (`20261125T103955Z-3f9a1c2e`).
    public static func newRunID(now: Date = Date()) -> String {
        let stamp = now.formatted(
            .iso8601.year().month().day().time(includingFractionalSeconds: false)
                .timeZone(separator: .omitted).dateSeparator(.omitted).timeSeparator(.omitted))
        let random = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return stamp + "-" + String(repeating: "0", count: 8 - random.count) + random
    }

    /// Params as shown to people and the audit log: secrets as `***`.
    public var displayedParams: [String: String] {
        var shown: [String: String] = [:]
        for param in runbook.params {
            guard let value = params.values[param.name] else { continue }
            shown[param.name] = param.secret ? Redactor.mask : redactor.redact(value.description)
        }
        return shown
    }

    /// The body of the run's `run.started` record: runbook, initiator, params (secrets masked), the alert
    /// (labels redacted) and, when the runbook asks for it, `on_interrupt` so that whoever finds the run
    /// abandoned after a crash knows to roll it back. `provenance` adds fields such as `runbook_sha256`.
    public func startedRecord(initiator: String, provenance: [String: JSONValue] = [:]) -> [String: JSONValue] {
        var body: [String: JSONValue] = [
            "runbook": .string(runbook.id), "initiator": .string(initiator),
            "params": .object(displayedParams.mapValues(JSONValue.string)),
        ]
        body.merge(provenance) { current, _ in current }
        if let alert = context.alert {
            body["alert"] = [
                "fingerprint": .string(alert.fingerprint), "status": .string(alert.status.rawValue),
                "labels": .object(alert.labels.mapValues { .string(redactor.redact($0)) }),
            ]
        }
        if runbook.policy.onInterrupt != .record { body["on_interrupt"] = .string(runbook.policy.onInterrupt.rawValue) }
        return body
    }
}
