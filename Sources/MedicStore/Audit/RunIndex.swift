import Foundation
import MedicCore

/// How one appended record changes the run index (the `run` table that listing and stats read). Every store
/// applies the same changes, so a run looks the same whether SQLite or PostgreSQL holds it.
package enum RunIndexChange: Sendable, Equatable {
    /// `run.started`: a new row, owned by the appending process.
    case started(
        id: String, runbook: String, startedAt: String, initiator: String?, alertname: String?, fingerprint: String?)
    /// `run.recovering`: the appending process owns the run now (if it dies too, the next start finds it again).
    case recovering(id: String)
    /// `run.finished`: end time and outcome; the verification state when the run has a `verify` block.
    case finished(id: String, finishedAt: String, outcome: String?, verification: String?)
    case verified(id: String, resolveMilliseconds: Int?)
    case unverified(id: String)

    package init?(_ event: AuditEvent, record: AuditRecord) {
        guard let runID = record.runID else { return nil }
        switch event.kind {
        case .runStarted:
            let alert = event.body["alert"]?.objectValue
            self = .started(
                id: runID, runbook: event.body["runbook"]?.stringValue ?? "", startedAt: record.time,
                initiator: event.body["initiator"]?.stringValue,
                alertname: alert?["labels"]?.objectValue?["alertname"]?.stringValue,
                fingerprint: alert?["fingerprint"]?.stringValue)
        case .runRecovering:
            self = .recovering(id: runID)
        case .runFinished:
            self = .finished(
                id: runID, finishedAt: record.time, outcome: event.body["outcome"]?.stringValue,
                verification: event.body["verification"]?.stringValue)
        case .runVerified:
            self = .verified(id: runID, resolveMilliseconds: event.body["time_to_resolve_ms"]?.intValue)
        case .runUnverified:
            self = .unverified(id: runID)
        default:
            return nil
        }
    }
}

/// A run with no end record, as `markInterruptedRuns` finds it.
package struct UnfinishedRun: Sendable {
    package var id: String
    package var owner: ProcessOwner
    package var started: RunStartedBody?

    package init(id: String, owner: ProcessOwner, started: RunStartedBody?) {
        self.id = id
        self.owner = owner
        self.started = started
    }
}

extension AbandonedRuns {
    /// What to append for the unfinished runs whose owning Medic (on this host) is gone: `run.finished`
    /// `interrupted`, or, for `on_interrupt: rollback` runs when `recovering`, a `run.recovering` claim by
    /// `claimant`. Runs of live owners, or of other hosts, are left alone.
    package static func decide(
        _ runs: [UnfinishedRun], claimant: ProcessOwner, now: Date, recovering: Bool
    ) -> ([AuditEvent], AbandonedRuns) {
        var result = AbandonedRuns()
        var events: [AuditEvent] = []
        for run in runs where run.owner.isGoneFromThisHost {
            let reason = "medic process \(run.owner.pid) on \(run.owner.host) ended without finishing the run"
            // Decided from the record's own typed field: the alert's labels are in the same body, and a label
            // spelled like the field must not choose the recovery path.
            if run.started?.onInterrupt == .rollback {
                guard recovering else { continue }
                events.append(
                    AuditEvent(
                        time: now, kind: .runRecovering, runID: run.id,
                        body: ["reason": .string(reason), "by_pid": JSONValue(Int(claimant.pid))]))
                result.recovering.append(run.id)
            } else {
                events.append(
                    AuditEvent(
                        time: now, kind: .runFinished, runID: run.id,
                        body: ["outcome": .string(RunOutcome.interrupted.rawValue), "reason": .string(reason)]))
                result.interrupted.append(run.id)
            }
        }
        return (events, result)
    }
}

extension RunIndexChange {
    /// The change a stored record makes (a record copied from another store, say): its body read back.
    package init?(stored record: AuditRecord) {
        guard let kind = AuditKind(rawValue: record.kind),
            let object = try? JSONSerialization.jsonObject(with: Data(record.body.utf8)) as? [String: Any]
        else { return nil }
        let event = AuditEvent(
            time: Date(), kind: kind, runID: record.runID ?? "", body: object.mapValues(Self.value))
        self.init(event, record: record)
    }

    private static func value(_ any: Any) -> JSONValue {
        switch any {
        case let string as String: return .string(string)
        // The index reads strings and whole numbers only; a boolean may read as 0 or 1 here.
        case let number as NSNumber: return .number(number.doubleValue)
        case let array as [Any]: return .array(array.map(value))
        case let object as [String: Any]: return .object(object.mapValues(value))
        default: return .null
        }
    }
}
