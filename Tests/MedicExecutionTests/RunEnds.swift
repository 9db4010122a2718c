import MedicCore
import Testing

/// What the stress tests ask of a whole audit log: every decided run ends exactly once, and no run that was
/// cancelled (or resolved) while it waited ever executed.
enum RunEnds {
    static func expectEveryRunEndsOnce(_ events: [AuditEvent], sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        var finished: [String: Int] = [:]
        var executed: Set<String> = []
        var cancelledWaiting: Set<String> = []
        for event in events {
            switch event.kind {
            case .runFinished:
                finished[event.runID, default: 0] += 1
                let reason = event.body["reason"]?.stringValue ?? ""
                if reason.hasPrefix("cancelled by") || reason == "the alert resolved" {
                    cancelledWaiting.insert(event.runID)
                }
            case .attemptStarted:
                executed.insert(event.runID)
            default:
                break
            }
        }
        let decided = Set(events.filter { $0.kind.isDecision && !$0.runID.isEmpty }.map(\.runID))
        #expect(
            decided.count > 30, "too few runs decided to mean anything: \(decided.count)",
            sourceLocation: sourceLocation)
        #expect(decided.subtracting(finished.keys).isEmpty, "runs without an end", sourceLocation: sourceLocation)
        #expect(finished.filter { $0.value != 1 }.isEmpty, "runs with more than one end", sourceLocation: sourceLocation)
        #expect(
            executed.intersection(cancelledWaiting).isEmpty, "runs cancelled while waiting that executed",
            sourceLocation: sourceLocation)
        #expect(!executed.isEmpty, "no run executed", sourceLocation: sourceLocation)
    }
}
