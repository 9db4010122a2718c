import Foundation

/// The dry-run view of a prepared run: the graph, every rendered command, timeouts, retries, rollbacks and
/// conditions, with what is only known at run time marked as such. Describing executes nothing.
public struct RunPlan: Sendable {
    /// What a `--probe` run of a readonly step produced.
    public struct Probe: Sendable, Equatable {
        public var result: AttemptResult
        public init(result: AttemptResult) { self.result = result }
    }

    public struct StepPlan: Sendable, Equatable {
        public var id: String
        public var needs: [String]
        public var command: Command
        /// Rendered and redacted, by name (MEDIC_* and the base environment omitted).
        public var env: [String: String]
        public var workdir: String?
        public var timeout: Duration?
        public var killGrace: Duration
        public var retry: RetryPolicy?
        public var readonly: Bool
        public var continueOnFailure: Bool
        public var when: String?
        /// true/false when decidable now (params, alert, probed steps); nil when it depends on a later step.
        public var whenResult: Bool?
        public var rollback: (command: Command, timeout: Duration?)?
        public var probe: Probe?
        /// `local`, or `ssh://user@host:port`; the rollback runs there too.
        public var target: String = "local"

        public static func == (lhs: StepPlan, rhs: StepPlan) -> Bool {
            lhs.id == rhs.id && lhs.command == rhs.command && lhs.env == rhs.env && lhs.whenResult == rhs.whenResult
                && lhs.rollback?.command == rhs.rollback?.command && lhs.probe == rhs.probe
        }
    }

    public var runbook: Runbook
    public var params: [String: String]
    public var origins: [String: String]
    public var steps: [StepPlan]
    public var parallelGroups: [[String]]
    /// Steps with a rollback, in the order they would be undone if every step succeeded and then the run failed.
    public var rollbackOrder: [String]

    public init(_ prepared: PreparedRun, probes: [String: AttemptResult] = [:]) {
        var context = prepared.context
        for (id, result) in probes {
            context.steps[id] = StepOutputs(probed: result)
        }
        let redactor = prepared.redactor
        func render(_ template: Template) -> String {
            var output = ""
            for segment in template.segments {
                switch segment {
                case .literal(let text): output += text
                case .reference(.stepOutput(let step, let field)) where context.steps[step] == nil:
                    output += "<steps.\(step).\(field.rawValue)>"
                case .reference(let reference): output += context.value(of: reference).text
                }
            }
            return redactor.redact(output)
        }
        func command(_ body: StepBody) -> Command {
            switch body.action {
            case .run(let arguments): .argv(arguments.map(render))
            case .shell(let script): .shell(script)
            }
        }
        runbook = prepared.runbook
        params = prepared.displayedParams
        origins = prepared.params.origins.mapValues(\.description)
        parallelGroups = prepared.graph.levels
        steps = prepared.graph.topologicalOrder.map { id in
            let step = prepared.runbook.step(withID: id)!
            var whenResult: Bool?
            if let condition = step.when {
                let decidable = condition.references.allSatisfy { reference in
                    reference.step.map { context.steps[$0] != nil } ?? true
                }
                whenResult = decidable ? condition.evaluate(in: context) : nil
            }
            var env: [String: String] = [:]
            for entry in step.body.env { env[entry.name] = render(entry.value) }
            var plan = StepPlan(
                id: id, needs: prepared.graph.dependencies[id, default: []], command: command(step.body), env: env,
                workdir: step.body.workdir.map(render), timeout: step.body.timeout,
                killGrace: step.body.killGrace ?? StepBody.defaultKillGrace, retry: step.body.retry,
                readonly: step.readonly, continueOnFailure: step.continueOnFailure, when: step.when?.source,
                whenResult: whenResult, rollback: step.rollback.map { (command($0), $0.timeout) },
                probe: probes[id].map { Probe(result: $0.redacted(by: redactor)) })
            plan.target = prepared.targets[id].map { redactor.redact($0.description) } ?? "local"
            return plan
        }
        rollbackOrder = prepared.graph.rollbackOrder.filter { prepared.runbook.step(withID: $0)?.rollback != nil }
    }

    // MARK: Output

    public var json: JSONValue {
        func commandJSON(_ command: Command, into members: inout [String: JSONValue]) {
            switch command {
            case .argv(let argv): members["argv"] = .array(argv.map(JSONValue.string))
            case .shell(let script): members["shell"] = .string(script)
            }
        }
        return [
            "runbook": .string(runbook.id),
            "params": .object(params.mapValues(JSONValue.string)),
            "param_sources": .object(origins.mapValues(JSONValue.string)),
            "parallel_groups": .array(parallelGroups.map { .array($0.map(JSONValue.string)) }),
            "rollback_order": .array(rollbackOrder.map(JSONValue.string)),
            "steps": .array(
                steps.map { step in
                    var members: [String: JSONValue] = [
                        "id": .string(step.id), "needs": .array(step.needs.map(JSONValue.string)),
                        "target": .string(step.target),
                        "env": .object(step.env.mapValues(JSONValue.string)),
                        "timeout_ms": step.timeout.map { JSONValue(Int($0.milliseconds)) } ?? .null,
                        "kill_grace_ms": JSONValue(Int(step.killGrace.milliseconds)),
                        "readonly": .bool(step.readonly), "continue_on_failure": .bool(step.continueOnFailure),
                        "when": JSONValue(step.when),
                        "when_result": step.whenResult.map(JSONValue.bool) ?? .null,
                        "workdir": JSONValue(step.workdir),
                        "retry": step.retry.map { retry in
                            [
                                "attempts": JSONValue(retry.attempts),
                                "delay_ms": JSONValue(Int(retry.delay.milliseconds)),
                                "backoff": .string(retry.backoff.rawValue),
                                "max_delay_ms": retry.maxDelay.map { JSONValue(Int($0.milliseconds)) } ?? .null,
                                "jitter": .number(retry.jitter),
                                "on_exit": retry.onExit.map { .array($0.map { JSONValue($0) }) } ?? .null,
                                "on_timeout": .bool(retry.onTimeout),
                            ]
                        } ?? .null,
                    ]
                    commandJSON(step.command, into: &members)
                    if let rollback = step.rollback {
                        var rollbackMembers: [String: JSONValue] = [
                            "timeout_ms": rollback.timeout.map { JSONValue(Int($0.milliseconds)) } ?? .null
                        ]
                        commandJSON(rollback.command, into: &rollbackMembers)
                        members["rollback"] = .object(rollbackMembers)
                    } else {
                        members["rollback"] = .null
                    }
                    if let probe = step.probe {
                        members["probe"] = [
                            "exit_code": probe.result.exitCode.map { JSONValue($0) } ?? .null,
                            "timed_out": .bool(probe.result.timedOut),
                            "stdout": .string(probe.result.stdout), "stderr": .string(probe.result.stderr),
                        ]
                    }
                    return .object(members)
                }),
        ]
    }

    /// For people: params, parallel groups, each step with its command and limits, rollback order.
    public func text(probed: Bool) -> String {
        var lines: [String] = ["plan for runbook \(runbook.id)"]
        if !params.isEmpty {
            lines.append("params:")
            let width = params.keys.map(\.count).max() ?? 0
            for name in params.keys.sorted() {
                let padded = name.padding(toLength: width, withPad: " ", startingAt: 0)
                lines.append("  \(padded) = \(ShellQuoting.quote(params[name]!))   (\(origins[name] ?? "default"))")
            }
        }
        lines.append("parallel groups (each starts when the previous is done):")
        for (index, group) in parallelGroups.enumerated() {
            lines.append("  \(index + 1). \(group.joined(separator: ", "))")
        }
        lines.append("steps:")
        for step in steps {
            var traits: [String] = []
            if step.readonly { traits.append("readonly") }
            traits.append(step.timeout.map { "timeout \($0.dslDescription)" } ?? "no timeout")
            if let retry = step.retry {
                var text =
                    "retry \(retry.attempts) attempts, \(retry.backoff.rawValue) from \(retry.delay.dslDescription)"
                if let cap = retry.maxDelay { text += " up to \(cap.dslDescription)" }
                if let codes = retry.onExit { text += " on exit \(codes.map(String.init).joined(separator: ","))" }
                if !retry.onTimeout { text += ", not on timeout" }
                traits.append(text)
            }
            if step.continueOnFailure { traits.append("continue on failure") }
            lines.append("  \(step.id)  [\(traits.joined(separator: "; "))]")
            if step.target != "local" { lines.append("    on: \(step.target)") }
            if !step.needs.isEmpty { lines.append("    needs: \(step.needs.joined(separator: ", "))") }
            if let when = step.when {
                let verdict =
                    step.whenResult.map { $0 ? "true: will run" : "false: will be skipped" } ?? "decided at run time"
                lines.append("    when: \(when)   (\(verdict))")
            }
            lines += Self.describe(step.command, indent: "    ")
            for name in step.env.keys.sorted() {
                lines.append("    env \(name)=\(ShellQuoting.quote(step.env[name]!))")
            }
            if let workdir = step.workdir { lines.append("    workdir: \(workdir)") }
            if let rollback = step.rollback {
                lines.append(
                    "    rollback [\(rollback.timeout.map { "timeout \($0.dslDescription)" } ?? "no timeout")]:")
                lines += Self.describe(rollback.command, indent: "      ")
            }
            if let probe = step.probe {
                let status = Self.describe(probe.result)
                lines.append("    probed: \(status)")
                for line in StepOutputs.trimmingTrailingNewlines(probe.result.stdout).split(
                    separator: "\n", omittingEmptySubsequences: false
                ).prefix(20) {
                    lines.append("      | \(line)")
                }
            }
        }
        if !rollbackOrder.isEmpty {
            lines.append(
                "rollback order if the run fails after all of them succeeded: \(rollbackOrder.joined(separator: " → "))"
            )
        }
        lines.append(
            probed
                ? "only readonly steps were executed (--probe)"
                : "nothing was executed (--probe runs the readonly steps)")
        return lines.joined(separator: "\n")
    }

    private static func describe(_ result: AttemptResult) -> String {
        if result.timedOut { return "timed out" }
        switch result.termination {
        case .exited(let code): return "exit \(code)"
        case .signaled(let signal): return "killed by signal \(signal)"
        case .launchFailed(let reason): return reason
        }
    }

    private static func describe(_ command: Command, indent: String) -> [String] {
        switch command {
        case .argv(let argv): return ["\(indent)run: \(argv.map(ShellQuoting.quote).joined(separator: " "))"]
        case .shell(let script):
            return ["\(indent)shell (/bin/sh -eu):"]
                + script.split(separator: "\n", omittingEmptySubsequences: false)
                .reversed().drop { $0.isEmpty }.reversed().map { "\(indent)  \($0)" }
        }
    }
}

/// Quotes text for display the way a POSIX shell would read it back (for showing argv, never for running).
public enum ShellQuoting {
    public static func quote(_ text: String) -> String {
        if text.isEmpty { return "''" }
        let safe = text.unicodeScalars.allSatisfy { scalar in
            Identifier.isLetter(scalar) || Identifier.isDigit(scalar) || "@%+=:,./_-".unicodeScalars.contains(scalar)
        }
        if safe { return text }
        // Literal: a quote followed by a combining mark is one Character and would escape a plain replace.
        return "'" + text.replacingOccurrences(of: "'", with: "'\\''", options: .literal) + "'"
    }
}
