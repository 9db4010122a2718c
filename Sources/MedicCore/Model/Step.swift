/// One node of a runbook's step graph: a command to run, when, with what limits, and how to undo it.
public struct Step: Sendable, Equatable {
    public var id: String
    public var description: String?
    public var body: StepBody
    /// nil: depends on the step listed before it. `[]`: starts at once.
    public var needs: [String]?
    public var when: Expression?
    /// A probe that changes nothing: dry-run may execute it.
    public var readonly: Bool
    public var continueOnFailure: Bool
    public var rollback: StepBody?
    /// Overrides the runbook's `target`; the rollback runs here too.
    public var target: StepTarget?

    public init(
        id: String, description: String? = nil, body: StepBody, needs: [String]? = nil, when: Expression? = nil,
        readonly: Bool = false, continueOnFailure: Bool = false, rollback: StepBody? = nil,
        target: StepTarget? = nil
    ) {
        self.id = id
        self.description = description
        self.body = body
        self.needs = needs
        self.when = when
        self.readonly = readonly
        self.continueOnFailure = continueOnFailure
        self.rollback = rollback
        self.target = target
    }
}

/// What to execute and under which limits; shared by steps and their rollbacks.
public struct StepBody: Sendable, Equatable {
    public var action: StepAction
    /// Extra environment variables, in the order written.
    public var env: [EnvironmentEntry]
    public var workdir: Template?
    /// Per attempt.
    public var timeout: Duration?
    /// Time between SIGTERM and SIGKILL when the timeout fires; default 5s.
    public var killGrace: Duration?
    public var retry: RetryPolicy?

    public init(
        action: StepAction, env: [EnvironmentEntry] = [], workdir: Template? = nil, timeout: Duration? = nil,
        killGrace: Duration? = nil, retry: RetryPolicy? = nil
    ) {
        self.action = action
        self.env = env
        self.workdir = workdir
        self.timeout = timeout
        self.killGrace = killGrace
        self.retry = retry
    }

    public static let defaultKillGrace: Duration = .seconds(5)
}

/// A step's command: an argv list (each element one rendered argument) or a `/bin/sh -eu` script.
public enum StepAction: Sendable, Equatable {
    case run([Template])
    /// Scripts may not contain templates; values reach them as environment variables.
    case shell(String)
}

/// One `env:` entry: a name and a template for its value.
public struct EnvironmentEntry: Sendable, Equatable {
    public var name: String
    public var value: Template

    public init(name: String, value: Template) {
        self.name = name
        self.value = value
    }
}
