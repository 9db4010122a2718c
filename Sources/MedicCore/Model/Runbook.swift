/// A runbook: what fault it answers (triggers), what it may do (policy) and how (a graph of steps).
public struct Runbook: Sendable, Equatable {
    /// Matches `[a-z0-9][a-z0-9-]*`; unique within a runbook directory.
    public var id: String
    public var description: String?
    public var owner: String?
    public var params: [Param]
    public var triggers: [Trigger]
    public var policy: Policy
    public var steps: [Step]
    /// Where every step runs unless it says otherwise; nil is `local`.
    public var target: StepTarget?
    /// What proves a succeeded run fixed the fault; nil: success is the run's own.
    public var verify: Verify?

    public init(
        id: String, description: String? = nil, owner: String? = nil, params: [Param] = [],
        triggers: [Trigger] = [], policy: Policy = Policy(), steps: [Step] = [], target: StepTarget? = nil
    ) {
        self.id = id
        self.description = description
        self.owner = owner
        self.params = params
        self.triggers = triggers
        self.policy = policy
        self.steps = steps
        self.target = target
    }

    public func param(named name: String) -> Param? {
        params.first { $0.name == name }
    }

    public func step(withID id: String) -> Step? {
        steps.first { $0.id == id }
    }
}
