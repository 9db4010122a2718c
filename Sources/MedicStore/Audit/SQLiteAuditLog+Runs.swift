import Foundation
import GRDB
import MedicCore

extension SQLiteAuditLog {
    /// One run's summary, if it exists.
    public func run(id: String) throws -> RunSummary? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM run WHERE id = ?", arguments: [id]).map { row in
                RunSummary(
                    id: row["id"], runbook: row["runbook"], startedAt: row["started_at"],
                    finishedAt: row["finished_at"],
                    durationMilliseconds: row["duration_ms"], outcome: row["outcome"], initiator: row["initiator"],
                    alertname: row["alertname"], fingerprint: row["fingerprint"],
                    verification: (row["verification"] as String?).flatMap(RunVerification.init(rawValue:)) ?? .none,
                    timeToResolveMilliseconds: row["resolve_ms"])
            }
        }
    }

    /// Runs matching `filter`, newest first.
    public func runs(_ filter: RunFilter) throws -> [RunSummary] {
        var clauses: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        if let since = filter.since { clauses.append("started_at >= ?"); arguments.append(since) }
        if let until = filter.until { clauses.append("started_at < ?"); arguments.append(until) }
        if let runbook = filter.runbook { clauses.append("runbook = ?"); arguments.append(runbook) }
        if let outcome = filter.outcome {
            if outcome == "running" {
                clauses.append("outcome IS NULL")
            } else {
                clauses.append("outcome = ?")
                arguments.append(outcome)
            }
        }
        if let alertname = filter.alertname { clauses.append("alertname = ?"); arguments.append(alertname) }
        if let verification = filter.verification {
            if verification == .none {
                clauses.append("verification IS NULL")
            } else {
                clauses.append("verification = ?")
                arguments.append(verification.rawValue)
            }
        }
        if let initiator = filter.initiator {
            // `operator` matches `operator:alice` too.
            clauses.append("(initiator = ? OR initiator LIKE ?)")
            arguments.append(initiator)
            arguments.append(initiator + ":%")
        }
        arguments.append(filter.limit)
        let whereClause = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        return try pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM run \(whereClause) ORDER BY started_at DESC, id DESC LIMIT ?",
                arguments: StatementArguments(arguments)
            ).map { row in
                RunSummary(
                    id: row["id"], runbook: row["runbook"], startedAt: row["started_at"],
                    finishedAt: row["finished_at"],
                    durationMilliseconds: row["duration_ms"], outcome: row["outcome"], initiator: row["initiator"],
                    alertname: row["alertname"], fingerprint: row["fingerprint"],
                    verification: (row["verification"] as String?).flatMap(RunVerification.init(rawValue:)) ?? .none,
                    timeToResolveMilliseconds: row["resolve_ms"])
            }
        }
    }

    public func stats(since: String?) throws -> Stats {
        try pool.read { db in
            let sinceClause = since == nil ? "" : "WHERE started_at >= ?"
            let arguments: StatementArguments = since.map { [$0] } ?? []
            var outcomes: [String: [String: Int]] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT outcome, runbook, COUNT(*) AS n FROM run \(sinceClause) GROUP BY outcome, runbook",
                arguments: arguments)
            {
                // Grouping in index order (outcome, runbook) avoids a sort; unfinished runs count as running.
                let outcome: String = row["outcome"] ?? "running"
                outcomes[row["runbook"], default: [:]][outcome] = row["n"]
            }
            // Percentiles by walking the (outcome, runbook, duration_ms) index in SQLite: no rows are copied out.
            let sinceFilter = since == nil ? "" : "AND started_at >= ?"
            var result: [Stats.RunbookStats] = []
            for runbook in outcomes.keys.sorted() {
                var base: [(any DatabaseValueConvertible)?] = [runbook]
                if let since { base.append(since) }
                let count =
                    try Int.fetchOne(
                        db,
                        sql:
                            "SELECT COUNT(*) FROM run WHERE outcome = 'succeeded' AND runbook = ? AND duration_ms IS NOT NULL \(sinceFilter)",
                        arguments: StatementArguments(base)) ?? 0
                func percentile(_ p: Double) throws -> Int? {
                    guard count > 0 else { return nil }
                    let offset = AuditStats.percentileOffset(count: count, p)
                    return try Int.fetchOne(
                        db,
                        sql: """
                            SELECT duration_ms FROM run WHERE outcome = 'succeeded' AND runbook = ? AND duration_ms IS NOT NULL
                            \(sinceFilter) ORDER BY duration_ms LIMIT 1 OFFSET ?
                            """,
                        arguments: StatementArguments(base + [offset]))
                }
                var entry = Stats.RunbookStats(
                    runbook: runbook, outcomes: outcomes[runbook]!, medianMilliseconds: try percentile(0.5),
                    p95Milliseconds: try percentile(0.95))
                for row in try Row.fetchAll(
                    db,
                    sql:
                        "SELECT verification, COUNT(*) AS n FROM run WHERE runbook = ? AND verification IN ('verified', 'unverified') \(sinceFilter) GROUP BY verification",
                    arguments: StatementArguments(base))
                {
                    if row["verification"] as String == "verified" { entry.verified = row["n"] } else { entry.unverified = row["n"] }
                }
                let resolves = try Int.fetchAll(
                    db,
                    sql:
                        "SELECT resolve_ms FROM run WHERE runbook = ? AND verification = 'verified' AND resolve_ms IS NOT NULL \(sinceFilter) ORDER BY resolve_ms",
                    arguments: StatementArguments(base))
                if !resolves.isEmpty {
                    entry.resolveP50Milliseconds = resolves[AuditStats.percentileOffset(count: resolves.count, 0.5)]
                    entry.resolveP90Milliseconds = resolves[AuditStats.percentileOffset(count: resolves.count, 0.9)]
                }
                result.append(entry)
            }
            var suppressed: [String: Int] = [:]
            let suppressedWhere = since == nil ? "" : "AND time >= ?"
            for body in try String.fetchAll(
                db, sql: "SELECT body FROM audit_record WHERE kind = '\(AuditKind.decisionSuppressed.rawValue)' \(suppressedWhere)",
                arguments: arguments)
            {
                suppressed[AuditStats.suppressionReason(body: body), default: 0] += 1
            }
            return Stats(runbooks: result, suppressed: suppressed)
        }
    }
}
