import Foundation

/// What a run with `verify` must prove once it succeeds, fixed when it starts. The executor writes it into the
/// run's `run.finished` (with `verification: pending`) when the run succeeds, so that a pending verification is
/// durable with the success itself and a restart rebuilds it from that one record.
public struct VerificationPlan: Sendable, Equatable {
    public var runbook: String
    public var groupKey: String
    public var fingerprint: String?
    public var alertStartsAt: Date?
    /// The alert's labels, for `policy.escalate` should the proof not come (redacted like `run.started`'s).
    public var alertLabels: [String: String]
    /// Where the alert came from (`alertmanager`, `grafana`, `json`): only Alertmanager's API is asked.
    public var alertSource: String?
    public var needsResolution: Bool
    public var needsProbe: Bool
    public var within: Duration
    public var onUnverified: Verify.OnUnverified

    /// The plan for a run of `runbook`, or nil when its `verify` has nothing to check for this run (no `verify`;
    /// no probe, and no alert resolution to wait for).
    public init?(runbook: Runbook, groupKey: String, alert: Alert?, startedByAlert: Bool) {
        guard let verify = runbook.verify else { return nil }
        let needsResolution = verify.resolved ?? startedByAlert
        guard needsResolution || verify.probe != nil else { return nil }
        self.runbook = runbook.id
        self.groupKey = groupKey
        fingerprint = alert?.fingerprint
        alertStartsAt = alert?.startsAt
        alertLabels = alert?.labels ?? [:]
        alertSource = alert?.source.rawValue
        self.needsResolution = needsResolution
        needsProbe = verify.probe != nil
        within = verify.within
        onUnverified = verify.onUnverified
    }

    /// The fields `run.finished` carries when the run succeeded.
    public func finishedFields(startedAt: Date, finishedAt: Date, redactor: Redactor) -> [String: JSONValue] {
        [
            "verification": .string(RunVerification.pending.rawValue),
            "verify": [
                "runbook": .string(runbook), "group_key": .string(groupKey), "fingerprint": JSONValue(fingerprint),
                "alert_starts_at": JSONValue(alertStartsAt.map(RFC3339.format)),
                "alert_labels": .object(alertLabels.mapValues { .string(redactor.redact($0)) }),
                "alert_source": JSONValue(alertSource),
                "run_started_at": .string(RFC3339.format(startedAt)),
                "deadline": .string(RFC3339.format(finishedAt.addingTimeInterval(Double(within.milliseconds) / 1000))),
                "needs_resolution": .bool(needsResolution), "needs_probe": .bool(needsProbe),
                "on_unverified": .string(onUnverified.rawValue),
            ],
        ]
    }
}

/// Where a run stands with its proof: `GET /v1/runs`, `medic audit list` and `show` read it from the records.
public enum RunVerification: String, Sendable, Equatable, CaseIterable, Codable {
    case none, pending, verified, unverified
}

/// A run that succeeded and waits for its proof: the alert's resolution, a passing probe, or both, before the
/// deadline.
public struct PendingVerification: Sendable, Equatable {
    public var runID: String
    public var runbook: String
    public var groupKey: String
    public var fingerprint: String?
    public var alertStartsAt: Date?
    public var alertLabels: [String: String]
    public var alertSource: String?
    public var runStartedAt: Date
    public var succeededAt: Date
    public var deadline: Date
    public var needsResolution: Bool
    public var needsProbe: Bool
    public var onUnverified: Verify.OnUnverified
    public var resolvedAt: Date?
    /// What told of the resolution: `notification` (the alert's resolved notification) or a source such as
    /// `alertmanager_api`.
    public var resolvedVia: String?
    public var probePassedAt: Date?
    public var probeAttempts = 0
    /// How the last failing probe ended, for the record of an unverified run.
    public var lastProbeFailure: String?

    /// Read back from a `run.finished` that says `verification: pending`.
    public init?(runFinished record: AuditRecord) {
        guard record.auditKind == .runFinished, let runID = record.runID,
            let body = record.body(as: RunFinishedBody.self), body.verification == RunVerification.pending.rawValue,
            let verify = body.verify, let succeededAt = RFC3339.parse(record.time),
            let deadline = verify.deadline.flatMap(RFC3339.parse)
        else { return nil }
        self.runID = runID
        runbook = verify.runbook ?? ""
        groupKey = verify.groupKey ?? ""
        fingerprint = verify.fingerprint
        alertStartsAt = verify.alertStartsAt.flatMap(RFC3339.parse)
        alertLabels = verify.alertLabels ?? [:]
        alertSource = verify.alertSource
        runStartedAt = verify.runStartedAt.flatMap(RFC3339.parse) ?? succeededAt
        self.succeededAt = succeededAt
        self.deadline = deadline
        needsResolution = verify.needsResolution ?? false
        needsProbe = verify.needsProbe ?? false
        onUnverified = verify.onUnverified.flatMap(Verify.OnUnverified.init(rawValue:)) ?? .escalate
    }

    public init(plan: VerificationPlan, runID: String, runStartedAt: Date, succeededAt: Date) {
        self.runID = runID
        runbook = plan.runbook
        groupKey = plan.groupKey
        fingerprint = plan.fingerprint
        alertStartsAt = plan.alertStartsAt
        alertLabels = plan.alertLabels
        alertSource = plan.alertSource
        self.runStartedAt = runStartedAt
        self.succeededAt = succeededAt
        deadline = succeededAt.addingTimeInterval(Double(plan.within.milliseconds) / 1000)
        needsResolution = plan.needsResolution
        needsProbe = plan.needsProbe
        onUnverified = plan.onUnverified
    }

    /// Everything asked for has been seen.
    public var isProven: Bool {
        (!needsResolution || resolvedAt != nil) && (!needsProbe || probePassedAt != nil)
    }

    /// `run.verified`: what proved it, and how long the fault lasted (from the alert's `startsAt` and from the
    /// run's start to the moment the proof was complete).
    public func verifiedRecord(now: Date) -> AuditEvent {
        var proof: [JSONValue] = []
        if needsResolution { proof.append("resolved") }
        if needsProbe { proof.append("probe") }
        let provenAt = [resolvedAt, probePassedAt].compactMap { $0 }.max() ?? now
        var body: [String: JSONValue] = [
            "runbook": .string(runbook), "group_key": .string(groupKey), "by": .array(proof),
            "proven_at": .string(RFC3339.format(provenAt)),
            "time_to_resolve_from_run_ms": JSONValue(Self.milliseconds(from: runStartedAt, to: provenAt)),
            "probe_attempts": JSONValue(probeAttempts),
        ]
        if let resolvedAt { body["resolved_at"] = .string(RFC3339.format(resolvedAt)) }
        if needsResolution { body["resolved_via"] = .string(resolvedVia ?? "notification") }
        if let alertStartsAt {
            body["time_to_resolve_ms"] = JSONValue(Self.milliseconds(from: alertStartsAt, to: provenAt))
        }
        return AuditEvent(time: now, kind: .runVerified, runID: runID, body: body)
    }

    /// Why the proof did not come in time, for people.
    public var unverifiedReason: String {
        var missing: [String] = []
        if needsResolution, resolvedAt == nil { missing.append("the alert did not resolve") }
        if needsProbe, probePassedAt == nil {
            missing.append(
                probeAttempts == 0
                    ? "the probe never ran"
                    : "the probe still failed after \(probeAttempts) attempt\(probeAttempts == 1 ? "" : "s")"
                        + (lastProbeFailure.map { " (last: \($0))" } ?? ""))
        }
        let window = Duration.milliseconds(Self.milliseconds(from: succeededAt, to: deadline)).dslDescription
        return missing.joined(separator: " and ") + " within \(window) of the run's success"
    }

    /// `run.unverified`, with `reason` (or the deadline's) and what happens next.
    public func unverifiedRecord(now: Date, reason: String? = nil) -> AuditEvent {
        AuditEvent(
            time: now, kind: .runUnverified, runID: runID,
            body: [
                "runbook": .string(runbook), "group_key": .string(groupKey),
                "reason": .string(reason ?? unverifiedReason), "on_unverified": .string(onUnverified.rawValue),
                "probe_attempts": JSONValue(probeAttempts),
            ])
    }

    static func milliseconds(from start: Date, to end: Date) -> Int {
        Int((end.timeIntervalSince(start) * 1000).rounded())
    }
}

/// The typed body of `run.finished`'s `verify` member.
public struct VerifyPlanBody: Decodable, Sendable, Equatable {
    public var runbook: String?
    public var groupKey: String?
    public var fingerprint: String?
    public var alertStartsAt: String?
    public var alertLabels: [String: String]?
    public var alertSource: String?
    public var runStartedAt: String?
    public var deadline: String?
    public var needsResolution: Bool?
    public var needsProbe: Bool?
    public var onUnverified: String?

    enum CodingKeys: String, CodingKey {
        case runbook, fingerprint, deadline
        case groupKey = "group_key"
        case alertStartsAt = "alert_starts_at"
        case alertLabels = "alert_labels"
        case alertSource = "alert_source"
        case runStartedAt = "run_started_at"
        case needsResolution = "needs_resolution"
        case needsProbe = "needs_probe"
        case onUnverified = "on_unverified"
    }
}

/// `run.verified` and `run.unverified`, as replay reads them.
public struct VerificationBody: AuditBody, Equatable {
    public static let kinds: Set<AuditKind> = [.runVerified, .runUnverified]
    public var runbook: String?
    public var groupKey: String?

    enum CodingKeys: String, CodingKey {
        case runbook
        case groupKey = "group_key"
    }
}
