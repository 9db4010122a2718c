/// Somewhere to ask whether an alert still fires, so that a verification need not wait for the resolved
/// notification (Alertmanager sends it only at the next `group_interval`).
public protocol ResolutionSource: Sendable {
    /// What the source calls itself in records (`alertmanager_api`).
    var name: String { get }
    /// true: the alert is no longer active there; false: it still is; nil: the source cannot tell now.
    func isResolved(fingerprint: String, labels: [String: String]) async -> Bool?
}
