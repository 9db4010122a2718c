import Foundation

/// The checks that need the whole runbook: the step graph, references in templates and `when`, param rules,
/// and warnings about legal but suspicious things. Structural checks happen while decoding.
public struct RunbookValidator {
    private let runbook: Runbook
    private var diagnostics: [Diagnostic] = []
    private var graph: StepGraph?
    private var usedParams: Set<String> = []

    private init(runbook: Runbook) {
        self.runbook = runbook
    }

    /// Every problem found, each pointing at a document path.
    public static func validate(_ runbook: Runbook) -> [Diagnostic] {
        var validator = RunbookValidator(runbook: runbook)
        validator.checkGraph()
        validator.checkParams()
        validator.checkPolicy()
        validator.checkSteps()
        validator.checkWarnings()
        return validator.diagnostics
    }

    private mutating func report(_ message: DiagnosticMessage, at path: DocumentPath, key: Bool = false) {
        diagnostics.append(Diagnostic(message, at: key ? .key(path) : .value(path)))
    }

    private var steps: DocumentPath { DocumentPath.root / "steps" }

    // MARK: Graph

    private mutating func checkGraph() {
        switch StepGraph.build(runbook.steps) {
        case .success(let built):
            graph = built
        case .failure(let problems):
            for problem in problems.items {
                switch problem {
                case .duplicateID(let id, let index, let first):
                    report(.duplicateStepID(id, firstIndex: first), at: steps / index / "id")
                case .unknownDependency(let id, let step, let need):
                    let ids = runbook.steps.map(\.id).filter { !$0.isEmpty }
                    report(
                        .unknownDependency(id, suggestion: Suggestion.closest(to: id, in: ids)),
                        at: steps / step / "needs" / need)
                case .selfDependency(let step, let need):
                    report(.selfDependency(runbook.steps[step].id), at: steps / step / "needs" / need)
                case .cycle(let cycle, let step):
                    let path = runbook.steps[step].needs == nil ? steps / step / "id" : steps / step / "needs"
                    report(.dependencyCycle(cycle), at: path)
                }
            }
        }
    }

    // MARK: Params

    private mutating func checkParams() {
        for param in runbook.params {
            let path = DocumentPath.root / "params" / param.name
            // Compile only when there is a value to check (most alert-fed params have no default).
            let hasValues = param.defaultValue != nil || !(param.allowed ?? []).isEmpty
            let regex = hasValues ? param.pattern.flatMap { try? GoRegex.alertmanager($0) } : nil
            if let min = param.min, let max = param.max, let low = Self.magnitude(min), let high = Self.magnitude(max),
                low > high
            {
                report(.minAboveMax(min.description, max.description), at: path / "min")
            }
            if let value = param.defaultValue, let problem = Self.violation(of: value, in: param, regex: regex) {
                report(.defaultViolates(problem), at: path / "default")
            }
            for (index, value) in (param.allowed ?? []).enumerated() {
                if let problem = Self.violation(of: value, in: param, regex: regex, checkEnum: false) {
                    report(.enumViolates(value.description, problem), at: path / "enum" / index)
                }
            }
            if param.secret, param.defaultValue != nil {
                report(.secretDefault(param.name), at: path / "default")
            }
        }
    }

    /// Why `value` breaks one of the param's rules, or nil when it keeps them all.
    static func violation(
        of value: ParamValue, in param: Param, regex: GoRegex?, checkEnum: Bool = true
    ) -> String? {
        if let regex, let pattern = param.pattern {
            let texts: [String] = if case .list(let items) = value { items } else { [value.description] }
            for text in texts where !regex.matches(text) {
                return "'\(text)' does not match pattern '\(pattern)'"
            }
        }
        let size: Int? =
            switch value {
            case .int(let number): number
            case .list(let items): items.count
            case .duration(let duration): Int(clamping: duration.milliseconds)
            default: nil
            }
        if let size, let min = param.min, let low = magnitude(min), Int64(size) < low {
            return "\(value) is below min \(min)"
        }
        if let size, let max = param.max, let high = magnitude(max), Int64(size) > high {
            return "\(value) is above max \(max)"
        }
        if checkEnum, let allowed = param.allowed, !allowed.isEmpty, !allowed.contains(value) {
            return "'\(value)' is not one of the allowed values (\(allowed.map(\.description).joined(separator: ", ")))"
        }
        return nil
    }

    private static func magnitude(_ value: ParamValue) -> Int64? {
        switch value {
        case .int(let number): Int64(number)
        case .duration(let duration): duration.milliseconds
        default: nil
        }
    }

    // MARK: Templates and expressions

    private enum Scope {
        /// Rendered before any step runs (policy.concurrency).
        case beforeSteps(String)
        /// Rendered for step `id`, which may read the steps in `visible`.
        case step(id: String, visible: Set<String>)
    }

    private mutating func checkTemplate(_ template: Template, at path: DocumentPath, scope: Scope, argv: Bool = false) {
        for reference in template.references {
            guard let type = checkReference(reference, at: path, scope: scope) else { continue }
            if type == .list, case .param(let name) = reference {
                report(.listParamInTemplate(name), at: path)
            }
            if argv, case .param(let name) = reference, runbook.param(named: name)?.secret == true {
                report(.secretInArgv(name), at: path)
            }
        }
    }

    /// Reports a reference to something that does not exist or is not visible; returns its type otherwise.
    @discardableResult
    private mutating func checkReference(_ reference: Reference, at path: DocumentPath, scope: Scope) -> ValueType? {
        switch reference {
        case .param(let name):
            usedParams.insert(name)
            guard let param = runbook.param(named: name) else {
                let names = runbook.params.map(\.name)
                report(.unknownParam(name, suggestion: Suggestion.closest(to: name, in: names)), at: path)
                return nil
            }
            return ValueType(param.type)
        case .alertLabel, .alertAnnotation, .alertFingerprint, .runID:
            return .string
        case .stepOutput(let stepID, let field):
            let type: ValueType = field == .exitCode ? .int : .string
            guard runbook.step(withID: stepID) != nil else {
                let ids = runbook.steps.map(\.id).filter { !$0.isEmpty }
                report(.unknownStepReference(stepID, suggestion: Suggestion.closest(to: stepID, in: ids)), at: path)
                return nil
            }
            switch scope {
            case .beforeSteps(let context):
                report(.stepReferenceOutsideSteps(context), at: path)
                return nil
            case .step(let id, let visible):
                if stepID == id, !visible.contains(id) {
                    report(.stepReadsItself(id), at: path)
                    return nil
                }
                // When the graph is broken (cycles, unknown needs) that is already reported; skip this check.
                if graph != nil, !visible.contains(stepID) {
                    report(.stepNotNeeded(stepID, from: id), at: path)
                    return nil
                }
                return type
            }
        }
    }

    private mutating func checkPolicy() {
        if let concurrency = runbook.policy.concurrency {
            checkTemplate(concurrency, at: .root / "policy" / "concurrency", scope: .beforeSteps("policy.concurrency"))
        }
        if let escalate = runbook.policy.escalate {
            checkBody(escalate, at: .root / "policy" / "escalate", scope: .beforeSteps("policy.escalate"))
        }
        if let verify = runbook.verify {
            if let probe = verify.probe {
                checkBody(probe.body, at: .root / "verify" / "probe", scope: .beforeSteps("verify.probe"))
                if probe.every > verify.within {
                    report(.probeSlowerThanDeadline(probe.every.dslDescription, verify.within.dslDescription),
                        at: .root / "verify" / "probe" / "every")
                }
            } else if verify.resolved == false {
                report(.verifyChecksNothing, at: .root / "verify")
            }
            if verify.resolved == true, runbook.triggers.isEmpty {
                report(.resolvedWithoutTriggers, at: .root / "verify" / "resolved")
            }
        }
    }

    /// A target's host is rendered before any step runs, from params and the alert only.
    private mutating func checkTarget(_ target: StepTarget?, at path: DocumentPath) {
        guard case .ssh(let ssh) = target else { return }
        checkTemplate(ssh.host, at: path / "ssh", scope: .beforeSteps("target"))
        for case .param(let name) in ssh.host.references where runbook.param(named: name)?.secret == true {
            report(.secretInArgv(name), at: path / "ssh")
        }
    }

    private mutating func checkSteps() {
        checkTarget(runbook.target, at: .root / "target")
        for (index, step) in runbook.steps.enumerated() where !step.id.isEmpty {
            let path = steps / index
            checkTarget(step.target, at: path / "target")
            let ancestors = graph?.ancestors(of: step.id) ?? []
            checkBody(step.body, at: path, scope: .step(id: step.id, visible: ancestors))
            if let rollback = step.rollback {
                // A rollback runs after its step, so it may read the step's own output.
                checkBody(
                    rollback, at: path / "rollback", scope: .step(id: step.id, visible: ancestors.union([step.id])))
            }
            if let when = step.when {
                checkWhen(when, at: path / "when", scope: .step(id: step.id, visible: ancestors))
            }
        }
    }

    private mutating func checkBody(_ body: StepBody, at path: DocumentPath, scope: Scope) {
        switch body.action {
        case .run(let arguments):
            for (index, argument) in arguments.enumerated() {
                checkTemplate(argument, at: path / "run" / index, scope: scope, argv: true)
            }
        case .shell(let script):
            if Template.containsHole(script) {
                report(.templateInShell, at: path / "shell")
            }
        }
        for entry in body.env {
            checkTemplate(entry.value, at: path / "env" / entry.name, scope: scope)
        }
        if let workdir = body.workdir {
            checkTemplate(workdir, at: path / "workdir", scope: scope)
        }
        if let retry = body.retry {
            if let maxDelay = retry.maxDelay, maxDelay < retry.delay {
                report(
                    .maxDelayBelowDelay(maxDelay.dslDescription, retry.delay.dslDescription),
                    at: path / "retry" / "max_delay")
            }
            if let codes = retry.onExit, let zero = codes.firstIndex(of: 0) {
                report(.retryOnExitZero, at: path / "retry" / "on_exit" / zero)
            }
            if retry.attempts == 1 {
                report(.attemptsWithoutRetry, at: path / "retry" / "attempts")
            }
        }
    }

    private mutating func checkWhen(_ expression: Expression, at path: DocumentPath, scope: Scope) {
        var types: [Reference: ValueType] = [:]
        for reference in expression.references {
            if let type = checkReference(reference, at: path, scope: scope) {
                types[reference] = type
            }
        }
        let known = types
        for error in ExpressionTypeChecker.check(expression, typeOf: { known[$0] }) {
            var diagnostic = Diagnostic(.expressionType(error.message), at: .value(path))
            diagnostic.span = (error.offset, error.length)
            diagnostics.append(diagnostic)
        }
    }

    // MARK: Warnings

    private mutating func checkWarnings() {
        if runbook.triggers.isEmpty {
            diagnostics.append(Diagnostic(.noTriggers, at: .key(.root / "runbook")))
        }
        for (index, step) in runbook.steps.enumerated() where !step.id.isEmpty {
            if !step.readonly, step.body.timeout == nil {
                report(.mutatingStepWithoutTimeout(step.id), at: steps / index / "id")
            }
            if let rollback = step.rollback, rollback.timeout == nil {
                report(.rollbackWithoutTimeout(step.id), at: steps / index / "rollback", key: true)
            }
        }
        for param in runbook.params where !usedParams.contains(param.name) {
            report(.unusedParam(param.name), at: .root / "params" / param.name, key: true)
        }
    }
}
