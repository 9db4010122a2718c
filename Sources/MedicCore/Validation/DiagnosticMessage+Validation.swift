extension DiagnosticMessage {
    static func duplicateStepID(_ id: String, firstIndex: Int) -> Self {
        .init(id: "duplicate-step-id", "step id '\(id)' is already used by steps[\(firstIndex)]")
    }
    static func unknownDependency(_ id: String, suggestion: String?) -> Self {
        let hint = suggestion.map { "; did you mean '\($0)'?" } ?? ""
        return .init(id: "unknown-step", "`needs` names '\(id)', which is not a step of this runbook\(hint)")
    }
    static func selfDependency(_ id: String) -> Self {
        .init(id: "self-dependency", "step '\(id)' cannot need itself")
    }
    static func dependencyCycle(_ cycle: [String]) -> Self {
        .init(id: "dependency-cycle", "dependency cycle: \(cycle.joined(separator: " → "))")
    }
    static func unknownParam(_ name: String, suggestion: String?) -> Self {
        let hint = suggestion.map { "; did you mean '\($0)'?" } ?? ""
        return .init(id: "unknown-param", "no param named '\(name)' is declared in `params`\(hint)")
    }
    static func unknownStepReference(_ id: String, suggestion: String?) -> Self {
        let hint = suggestion.map { "; did you mean '\($0)'?" } ?? ""
        return .init(id: "unknown-step", "no step with id '\(id)'\(hint)")
    }
    static func stepNotNeeded(_ referenced: String, from step: String) -> Self {
        .init(
            id: "step-not-needed",
            "step '\(step)' reads steps.\(referenced) but does not (transitively) need '\(referenced)', so it may run before it; add '\(referenced)' to its `needs`"
        )
    }
    static func stepReadsItself(_ step: String) -> Self {
        .init(id: "step-not-needed", "step '\(step)' cannot read its own output before it has run")
    }
    static func stepReferenceOutsideSteps(_ context: String) -> Self {
        .init(id: "step-not-needed", "\(context) is rendered before any step runs; it cannot read steps.*")
    }
    static func listParamInTemplate(_ name: String) -> Self {
        .init(
            id: "list-in-template",
            "list param '\(name)' cannot be rendered into a single argument; test it in `when` with `in` or `contains`")
    }
    static let templateInShell = Self(
        id: "template-in-shell",
        "`shell` scripts may not contain `{{ }}`: pass values through `env:` and read them as \"$NAME\" (templates in scripts allow injection)"
    )
    static func expressionType(_ message: String) -> Self {
        .init(id: "expression-type", "in `when`: \(message)")
    }
    static func minAboveMax(_ min: String, _ max: String) -> Self {
        .init(id: "min-above-max", "min (\(min)) is greater than max (\(max))")
    }
    static func defaultViolates(_ rule: String) -> Self {
        .init(id: "invalid-default", "default value \(rule)")
    }
    static func enumViolates(_ value: String, _ rule: String) -> Self {
        .init(id: "invalid-enum", "allowed value '\(value)' \(rule)")
    }
    static func maxDelayBelowDelay(_ maxDelay: String, _ delay: String) -> Self {
        .init(id: "invalid-value", "max_delay (\(maxDelay)) is shorter than delay (\(delay))")
    }

    static let verifyChecksNothing = Self(
        id: "verify-checks-nothing",
        "`verify` with `resolved: false` and no `probe` proves nothing; add a probe or let the alert's resolution count")
    static func probeSlowerThanDeadline(_ every: String, _ within: String) -> Self {
        .init(
            id: "probe-slower-than-deadline", severity: .warning,
            "`probe.every` (\(every)) is longer than `verify.within` (\(within)): the probe runs once, at the run's success")
    }

    // Warnings.
    static let resolvedWithoutTriggers = Self(
        id: "resolved-without-triggers", severity: .warning,
        "`verify.resolved: true` on a runbook without triggers: only an alert's resolution can prove it, so runs started without one end unverified"
    )
    static func mutatingStepWithoutTimeout(_ id: String) -> Self {
        .init(
            id: "no-timeout", severity: .warning,
            "step '\(id)' may change things and has no `timeout`; a hung command would hold the run until policy.timeout"
        )
    }
    static func rollbackWithoutTimeout(_ id: String) -> Self {
        .init(id: "no-timeout", severity: .warning, "rollback of step '\(id)' has no `timeout`")
    }
    static let noTriggers = Self(
        id: "no-triggers", severity: .warning, "runbook has no triggers; only an operator can start it (`medic run`)")
    static func unusedParam(_ name: String) -> Self {
        .init(id: "unused-param", severity: .warning, "param '\(name)' is never used by a step, `when` or policy")
    }
    static func secretInArgv(_ name: String) -> Self {
        .init(
            id: "secret-in-argv", severity: .warning,
            "secret param '\(name)' is rendered into argv, which any local user can read in /proc; pass it through `env:`"
        )
    }
    static func secretDefault(_ name: String) -> Self {
        .init(id: "secret-default", severity: .warning, "secret param '\(name)' has a default written in the runbook")
    }
    static let retryOnExitZero = Self(
        id: "retry-exit-zero", severity: .warning, "exit code 0 is success and is never retried")
    static let attemptsWithoutRetry = Self(
        id: "retry-single-attempt", severity: .warning, "`attempts: 1` means no retry; remove `retry` or raise attempts"
    )
}
