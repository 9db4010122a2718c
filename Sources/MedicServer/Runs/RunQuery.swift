import Foundation
import MedicCore

/// The query string of `GET /v1/runs` read as a `RunFilter`; a bad parameter is the client's mistake (400).
public enum RunQuery {
    /// The parameters `GET /v1/runs` takes.
    public static let names: Set = [
        "since", "until", "runbook", "outcome", "alertname", "initiator", "verification", "limit",
    ]
    /// Runs listed when the query gives no `limit`.
    public static let defaultLimit = 50

    /// Every bad parameter of one query, in the order of the names.
    public struct Problems: Error, Sendable, Equatable, CustomStringConvertible {
        public var messages: [String]
        public var description: String { messages.joined(separator: "; ") }
    }

    /// The filter `query` asks for, or every problem with it at once.
    public static func filter(_ query: [String: String], now: Date = Date()) -> Result<RunFilter, Problems> {
        var problems: [String] = []
        for name in query.keys.sorted() where !names.contains(name) {
            problems.append(Message.unknown(name))
        }
        var filter = RunFilter(
            runbook: query["runbook"], outcome: query["outcome"], alertname: query["alertname"],
            initiator: query["initiator"], limit: defaultLimit)
        if let text = query["verification"] {
            if let verification = RunVerification(rawValue: text) {
                filter.verification = verification
            } else {
                problems.append(Message.verification(text))
            }
        }
        if let text = query["limit"] {
            if let value = Int(text), value > 0 {
                filter.limit = value
            } else {
                problems.append(Message.limit(text))
            }
        }
        for (name, text) in [("since", query["since"]), ("until", query["until"])] {
            guard let text else { continue }
            guard let time = TimeBound.parse(text, now: now) else {
                problems.append("\(name): \(TimeBound.unparsable(text))")
                continue
            }
            if name == "since" { filter.since = time } else { filter.until = time }
        }
        return problems.isEmpty ? .success(filter) : .failure(Problems(messages: problems))
    }

    enum Message {
        static func unknown(_ name: String) -> String {
            "unknown filter '\(name)'; use \(names.sorted().joined(separator: ", "))"
        }

        static func verification(_ text: String) -> String {
            "verification must be one of \(RunVerification.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'"
        }

        static func limit(_ text: String) -> String {
            "limit must be a positive whole number, got '\(text)'"
        }
    }
}
