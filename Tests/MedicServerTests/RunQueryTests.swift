import Foundation
import MedicCore
import MedicServer
import Testing

@Suite struct RunQueryTests {
    static let now = RFC3339.parse("2026-11-25T12:00:00Z")!

    @Test("an empty query lists the 50 newest runs")
    func empty() throws {
        #expect(try RunQuery.filter([:]).get() == RunFilter(limit: 50))
    }

    @Test("every filter is read; times are a duration back from now or a date")
    func filters() throws {
        let filter = try RunQuery.filter(
            [
                "since": "24h", "until": "2026-11-25", "runbook": "disk", "outcome": "failed", "alertname": "Down",
                "initiator": "operator", "limit": "5",
            ], now: Self.now
        ).get()
        #expect(filter.since == "2026-11-24T12:00:00.000Z")
        #expect(filter.until == "2026-11-25T00:00:00.000Z")
        #expect(
            filter
                == RunFilter(
                    since: filter.since, until: filter.until, runbook: "disk", outcome: "failed", alertname: "Down",
                    initiator: "operator", limit: 5))
    }

    @Test(
        "a bad parameter is named in the problem",
        arguments: [
            (["limit": "abc"], "limit must be a positive whole number, got 'abc'"),
            (["limit": "0"], "limit must be a positive whole number, got '0'"),
            (["since": "yesterday"], "since: 'yesterday' is neither a duration (24h, 7d) nor a date"),
            (
                ["runbok": "x"],
                "unknown filter 'runbok'; use alertname, initiator, limit, outcome, runbook, since, until"
            ),
        ])
    func problem(query: [String: String], message: String) throws {
        guard case .failure(let problems) = RunQuery.filter(query, now: Self.now) else {
            Issue.record("expected a problem for \(query)")
            return
        }
        #expect(problems.messages.count == 1)
        #expect(problems.description.hasPrefix(message))
    }

    @Test("every bad parameter is reported at once")
    func several() {
        guard case .failure(let problems) = RunQuery.filter(["limit": "-1", "until": "later", "x": "1"]) else {
            Issue.record("expected problems")
            return
        }
        #expect(problems.messages.count == 3)
    }
}
