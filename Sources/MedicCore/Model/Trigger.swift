/// One way an alert can start a runbook: every matcher must hold (AND); any trigger may fire (OR).
public struct Trigger: Sendable, Equatable {
    public var matchers: [LabelMatcher]
    public var status: TriggerStatus
    /// Label names whose values form the dedup and cooldown key; nil means the alert fingerprint.
    public var groupBy: [String]?
    public var cooldown: Duration?

    public init(
        matchers: [LabelMatcher], status: TriggerStatus = .firing, groupBy: [String]? = nil,
        cooldown: Duration? = nil
    ) {
        self.matchers = matchers
        self.status = status
        self.groupBy = groupBy
        self.cooldown = cooldown
    }
}

/// Which alert status a trigger answers.
public enum TriggerStatus: String, Sendable, Equatable, CaseIterable {
    case firing, resolved, any
}
