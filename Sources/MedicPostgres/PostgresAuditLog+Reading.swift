import Foundation
import MedicCore
import MedicStore
import PostgresNIO

extension PostgresAuditLog {
    public func head() async throws -> AuditHead? {
        let rows = try await client.query(
            "SELECT seq, hash FROM audit_record ORDER BY seq DESC LIMIT 1", logger: logger)
        for try await (seq, hash) in rows.decode((Int64, String).self) { return AuditHead(seq: seq, hash: hash) }
        return nil
    }

    public func count() async throws -> Int {
        let rows = try await client.query("SELECT COUNT(*) FROM audit_record", logger: logger)
        for try await count in rows.decode(Int64.self) { return Int(count) }
        return 0
    }

    static let recordColumns = "seq, time, kind, run_id, body, prev_hash, hash"

    static func record(_ row: PostgresRow) throws -> AuditRecord {
        let (seq, time, kind, runID, body, prevHash, hash) = try row.decode(
            (Int64, String, String, String?, String, String, String).self)
        return AuditRecord(seq: seq, time: time, kind: kind, runID: runID, body: body, prevHash: prevHash, hash: hash)
    }

    static func query(_ filter: AuditRecordFilter) -> PostgresQuery {
        let (whereClause, arguments) = filter.whereClause { "$\($0)" }
        var binds = PostgresBindings(capacity: arguments.count)
        for argument in arguments { binds.append(argument) }
        return PostgresQuery(
            unsafeSQL: "SELECT \(recordColumns) FROM audit_record\(whereClause) ORDER BY seq\(filter.limitClause)",
            binds: binds)
    }

    public func forEachRecord(where filter: AuditRecordFilter, _ body: (AuditRecord) throws -> Void) async throws {
        let rows = try await client.query(Self.query(filter), logger: logger)
        for try await row in rows { try body(try Self.record(row)) }
    }

    public func records(run runID: String) async throws -> [AuditRecord] {
        var records: [AuditRecord] = []
        try await forEachRecord(where: AuditRecordFilter(runID: runID)) { records.append($0) }
        return records
    }

    /// Reads the checkpoint and every record in one snapshot (REPEATABLE READ), so appends by other replicas
    /// during a long verify neither confuse it nor wait for it.
    public func verify(expectHead: AuditHead?) async throws -> AuditVerification {
        try await client.withConnection { connection in
            try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
            do {
                var checkpoint: AuditHead?
                for try await body in try await connection.query(
                    "SELECT body FROM audit_record WHERE kind = \(AuditKind.auditCheckpoint.rawValue) ORDER BY seq DESC LIMIT 1",
                    logger: logger
                ).decode(String.self) {
                    checkpoint = ChainVerifier.checkpoint(fromBody: body)
                }
                var verifier = ChainVerifier(checkpoint: checkpoint, expectHead: expectHead)
                for try await row in try await connection.query(
                    PostgresQuery(unsafeSQL: "SELECT \(Self.recordColumns) FROM audit_record ORDER BY seq"),
                    logger: logger)
                {
                    verifier.add(try Self.record(row))
                }
                try await connection.query("COMMIT", logger: logger)
                return verifier.finish()
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    public func policyHistory(since cutoff: Date) async throws -> [AuditRecord] {
        var records: [AuditRecord] = []
        try await forEachRecord(
            where: AuditRecordFilter(since: RFC3339.format(cutoff), kinds: AuditKind.policyHistory)
        ) { records.append($0) }
        return records
    }

    public func pendingVerificationRuns() async throws -> [(id: String, started: String)] {
        var runs: [(id: String, started: String)] = []
        for try await (id, started) in try await client.query(
            "SELECT id, started_at FROM run WHERE verification = 'pending'", logger: logger
        ).decode((String, String).self) {
            runs.append((id, started))
        }
        return runs
    }

    // MARK: Runs

    static let runColumns =
        "id, runbook, started_at, finished_at, duration_ms, outcome, initiator, alertname, fingerprint, verification, resolve_ms"

    static func summary(_ row: PostgresRow) throws -> RunSummary {
        let (id, runbook, startedAt, finishedAt, duration, outcome, initiator, alertname, fingerprint, verification, resolve) =
            try row.decode(
                (String, String, String, String?, Int64?, String?, String?, String?, String?, String?, Int64?).self)
        return RunSummary(
            id: id, runbook: runbook, startedAt: startedAt, finishedAt: finishedAt,
            durationMilliseconds: duration.map(Int.init), outcome: outcome, initiator: initiator, alertname: alertname,
            fingerprint: fingerprint, verification: verification.flatMap(RunVerification.init(rawValue:)) ?? .none,
            timeToResolveMilliseconds: resolve.map(Int.init))
    }

    public func summary(ofRun id: String) async throws -> RunSummary? {
        for try await row in try await client.query(
            "SELECT \(unescaped: Self.runColumns) FROM run WHERE id = \(id)", logger: logger)
        {
            return try Self.summary(row)
        }
        return nil
    }

    public func records(ofRun id: String) async throws -> [AuditRecord] {
        try await records(run: id)
    }

    public func runs(matching filter: RunFilter) async throws -> [RunSummary] {
        var clauses: [String] = []
        var binds = PostgresBindings()
        func bind(_ value: String) -> String {
            binds.append(value)
            return "$\(binds.count)"
        }
        if let since = filter.since { clauses.append("started_at >= \(bind(since))") }
        if let until = filter.until { clauses.append("started_at < \(bind(until))") }
        if let runbook = filter.runbook { clauses.append("runbook = \(bind(runbook))") }
        if let outcome = filter.outcome {
            clauses.append(outcome == "running" ? "outcome IS NULL" : "outcome = \(bind(outcome))")
        }
        if let alertname = filter.alertname { clauses.append("alertname = \(bind(alertname))") }
        if let verification = filter.verification {
            clauses.append(
                verification == .none ? "verification IS NULL" : "verification = \(bind(verification.rawValue))")
        }
        if let initiator = filter.initiator {
            // `operator` matches `operator:alice` too (the name is matched literally, not as a LIKE pattern).
            clauses.append(
                "(initiator = \(bind(initiator)) OR starts_with(initiator, \(bind(initiator + ":"))))")
        }
        let whereClause = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        binds.append(Int64(filter.limit))
        let query = PostgresQuery(
            unsafeSQL:
                "SELECT \(Self.runColumns) FROM run \(whereClause) ORDER BY started_at DESC, id DESC LIMIT $\(binds.count)",
            binds: binds)
        var summaries: [RunSummary] = []
        for try await row in try await client.query(query, logger: logger) { summaries.append(try Self.summary(row)) }
        return summaries
    }

    public func stats(since: String?) async throws -> AuditStats {
        let sinceFilter = since == nil ? "" : "AND started_at >= $2"
        func binds(_ runbook: String?, _ extra: Int64? = nil) -> PostgresBindings {
            var binds = PostgresBindings()
            binds.append(runbook ?? "")
            if let since { binds.append(since) }
            if let extra { binds.append(extra) }
            return binds
        }
        var outcomes: [String: [String: Int]] = [:]
        var grouping = PostgresBindings()
        if let since { grouping.append(since) }
        for try await (outcome, runbook, count) in try await client.query(
            PostgresQuery(
                unsafeSQL:
                    "SELECT outcome, runbook, COUNT(*) FROM run \(since == nil ? "" : "WHERE started_at >= $1") GROUP BY outcome, runbook",
                binds: grouping),
            logger: logger
        ).decode((String?, String, Int64).self) {
            outcomes[runbook, default: [:]][outcome ?? "running"] = Int(count)
        }
        var result: [AuditStats.RunbookStats] = []
        for runbook in outcomes.keys.sorted() {
            var durations = 0
            for try await count in try await client.query(
                PostgresQuery(
                    unsafeSQL:
                        "SELECT COUNT(*) FROM run WHERE outcome = 'succeeded' AND runbook = $1 AND duration_ms IS NOT NULL \(sinceFilter)",
                    binds: binds(runbook)), logger: logger
            ).decode(Int64.self) {
                durations = Int(count)
            }
            func percentile(_ p: Double) async throws -> Int? {
                guard durations > 0 else { return nil }
                let offset = Int64(AuditStats.percentileOffset(count: durations, p))
                for try await value in try await client.query(
                    PostgresQuery(
                        unsafeSQL: """
                            SELECT duration_ms FROM run WHERE outcome = 'succeeded' AND runbook = $1 AND duration_ms IS NOT NULL
                            \(sinceFilter) ORDER BY duration_ms LIMIT 1 OFFSET $\(since == nil ? 2 : 3)
                            """, binds: binds(runbook, offset)), logger: logger
                ).decode(Int64.self) {
                    return Int(value)
                }
                return nil
            }
            var entry = AuditStats.RunbookStats(
                runbook: runbook, outcomes: outcomes[runbook]!, medianMilliseconds: try await percentile(0.5),
                p95Milliseconds: try await percentile(0.95))
            for try await (verification, count) in try await client.query(
                PostgresQuery(
                    unsafeSQL:
                        "SELECT verification, COUNT(*) FROM run WHERE runbook = $1 AND verification IN ('verified', 'unverified') \(sinceFilter) GROUP BY verification",
                    binds: binds(runbook)), logger: logger
            ).decode((String, Int64).self) {
                if verification == "verified" { entry.verified = Int(count) } else { entry.unverified = Int(count) }
            }
            var resolves: [Int] = []
            for try await value in try await client.query(
                PostgresQuery(
                    unsafeSQL:
                        "SELECT resolve_ms FROM run WHERE runbook = $1 AND verification = 'verified' AND resolve_ms IS NOT NULL \(sinceFilter) ORDER BY resolve_ms",
                    binds: binds(runbook)), logger: logger
            ).decode(Int64.self) {
                resolves.append(Int(value))
            }
            if !resolves.isEmpty {
                entry.resolveP50Milliseconds = resolves[AuditStats.percentileOffset(count: resolves.count, 0.5)]
                entry.resolveP90Milliseconds = resolves[AuditStats.percentileOffset(count: resolves.count, 0.9)]
            }
            result.append(entry)
        }
        var suppressed: [String: Int] = [:]
        try await forEachRecord(where: AuditRecordFilter(since: since, kinds: [.decisionSuppressed])) {
            suppressed[AuditStats.suppressionReason(body: $0.body), default: 0] += 1
        }
        return AuditStats(runbooks: result, suppressed: suppressed)
    }
}
