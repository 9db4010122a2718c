import Foundation

/// What a source says of an alert now.
public enum AlertState: Sendable, Equatable {
    /// Listed as active.
    case firing
    /// Not listed, and the source has known the alert since before `lastSeenFiring`: it resolved there.
    case resolved
    /// The source cannot tell (unreachable, an error, restarted since the alert was last seen, never saw it).
    case unknown
}

/// Somewhere to ask whether an alert still fires, so that a verification need not wait for the resolved
/// notification (Alertmanager sends it only at the next `group_interval`).
public protocol ResolutionSource: Sendable {
    /// What the source calls itself in records (`alertmanager_api`).
    var name: String { get }
    /// The alert's state. A disappearance counts as `resolved` only after the alert was seen firing there
    /// (`lastSeenFiring`) by a source that has run since: an Alertmanager restart forgets every alert.
    func state(fingerprint: String, labels: [String: String], lastSeenFiring: Date?) async -> AlertState
}

/// What Medic asks of Alertmanager beyond resolution: silences while a run works (`policy.silence`) and
/// escalations as alerts (`policy.escalate: {alertmanager: true}`). Errors carry Alertmanager's answer.
public protocol AlertmanagerActions: ResolutionSource {
    /// A silence matching `labels` (and no `alertname` when the labels have none) until `until`; its id.
    func createSilence(labels: [String: String], until: Date, comment: String) async throws -> String
    func expireSilence(_ id: String) async throws
    /// Active silences Medic created: id and comment.
    func medicSilences() async throws -> [(id: String, comment: String)]
    func postAlert(labels: [String: String], annotations: [String: String], startsAt: Date, endsAt: Date) async throws
}
