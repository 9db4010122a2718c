import Foundation

/// Somewhere to ask whether an alert still fires, so that a verification need not wait for the resolved
/// notification (Alertmanager sends it only at the next `group_interval`).
public protocol ResolutionSource: Sendable {
    /// What the source calls itself in records (`alertmanager_api`).
    var name: String { get }
    /// true: the alert is no longer active there; false: it still is; nil: the source cannot tell now.
    func isResolved(fingerprint: String, labels: [String: String]) async -> Bool?
}

/// What Medic asks of Alertmanager beyond resolution: silences while a run works (`policy.silence`) and
/// escalations as alerts (`policy.escalate: {alertmanager: true}`). Errors carry Alertmanager's answer.
public protocol AlertmanagerActions: ResolutionSource {
    /// A silence matching exactly `labels` until `until`; returns its id.
    func createSilence(labels: [String: String], until: Date, comment: String) async throws -> String
    func expireSilence(_ id: String) async throws
    func postAlert(labels: [String: String], annotations: [String: String], startsAt: Date, endsAt: Date) async throws
}
