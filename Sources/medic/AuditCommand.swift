import ArgumentParser
import Foundation
import MedicCore
import MedicPostgres
import MedicStore

/// `--audit PATH|URL`, with `MEDIC_AUDIT` as fallback and `.medic/audit.db` as default: a SQLite file, or a
/// `postgres://` / `postgresql://` URL for a PostgreSQL store that several replicas share.
struct AuditLocation: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The audit store: a SQLite file, or a postgres:// URL (default: $MEDIC_AUDIT, else .medic/audit.db).",
            valueName: "path|url"))
    var audit: String?

    var path: String {
        audit ?? ProcessInfo.processInfo.environment["MEDIC_AUDIT"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ".medic/audit.db"
    }

    var isPostgres: Bool { PostgresLocation.isURL(path) }

    /// Where the store is, for messages (a URL without its password).
    var display: String {
        guard isPostgres else { return path }
        return (try? PostgresLocation(url: path).redacted) ?? "the PostgreSQL URL given"
    }

    /// Opens the store, creating it when `create` (a PostgreSQL database must exist; its tables are created);
    /// marks runs abandoned by dead Medic processes as interrupted.
    func open(
        create: Bool, writer: SQLiteAuditLog.Writer = .callerWhenIdle, replica: String? = nil
    ) async throws -> any AuditStore {
        let log = try await Self.open(path, create: create, writer: writer, replica: replica)
        let interrupted = try await log.markInterruptedRuns(now: Date(), recovering: false).interrupted
        if !interrupted.isEmpty {
            var standardError = StandardError()
            print(
                "medic: marked \(interrupted.count) run(s) left unfinished by a stopped Medic as interrupted: \(interrupted.joined(separator: ", "))",
                to: &standardError)
        }
        return log
    }

    /// Opens the store at `path` (a file or a URL) without touching its runs.
    static func open(
        _ path: String, create: Bool, writer: SQLiteAuditLog.Writer = .callerWhenIdle, replica: String? = nil
    ) async throws -> any AuditStore {
        if PostgresLocation.isURL(path) {
            do {
                return try await PostgresAuditLog.open(url: path, replica: replica)
            } catch {
                throw CommandFailure("\(error)")
            }
        }
        if !create, !FileManager.default.fileExists(atPath: path) {
            throw CommandFailure("no audit log at \(path) (give --audit PATH or set MEDIC_AUDIT)")
        }
        // Opening takes a file lock and may retry with sleeps: off the async pool.
        do {
            return try await offload { try SQLiteAuditLog(path: path, writer: writer) }
        } catch {
            throw CommandFailure("cannot open the audit log \(path): \(error)")
        }
    }
}

/// Time filters (`TimeBound`) as command-line arguments: one that does not parse is a usage error.
enum TimeArgument {
    static func parse(_ text: String) throws -> String {
        guard let time = TimeBound.parse(text) else { throw ValidationError(TimeBound.unparsable(text)) }
        return time
    }
}

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Review the audit log: list runs, show one, verify the hash chain, export, stats.",
        subcommands: [
            AuditList.self, AuditShow.self, AuditVerify.self, AuditHead.self, AuditExport.self, AuditStats.self,
            AuditPrune.self, AuditMigrate.self,
        ]
    )
}

struct AuditList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "One line per run, newest first.")

    @OptionGroup var location: AuditLocation
    @Option(help: "Only runs started since: a duration back (24h) or a date.") var since: String?
    @Option(help: "Only runs started before this duration back or date.") var until: String?
    @Option(help: "Only this runbook id.") var runbook: String?
    @Option(help: "Only this outcome (succeeded, failed, ..., or running).") var outcome: String?
    @Option(help: "Only runs triggered by this alertname.") var alertname: String?
    @Option(help: "Only this initiator (alert, api, operator, operator:NAME).") var initiator: String?
    @Option(help: "Only runs whose verification is none, pending, verified or unverified.")
    var verification: RunVerification?
    @Option(help: "At most this many runs.") var limit = 50
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text

    func run() async throws {
        try await Self.reporting {
            let log = try await location.open(create: false)
            let filter = RunFilter(
                since: try since.map { try TimeArgument.parse($0) },
                until: try until.map { try TimeArgument.parse($0) },
                runbook: runbook, outcome: outcome, alertname: alertname, initiator: initiator,
                verification: verification, limit: limit)
            let runs = try await log.runs(matching: filter)
            if format == .json {
                print(JSONValue.array(runs.map(\.json)).rendered())
                return
            }
            if runs.isEmpty {
                print("no runs")
                return
            }
            print(
                "RUN ID                      STARTED                   DURATION  RUNBOOK                              ALERT                      OUTCOME          VERIFICATION"
            )
            for run in runs {
                let duration = run.durationMilliseconds.map { String(format: "%.1fs", Double($0) / 1000) } ?? "-"
                print(
                    [
                        run.id.padding(toLength: 27, withPad: " ", startingAt: 0),
                        run.startedAt.padding(toLength: 25, withPad: " ", startingAt: 0),
                        duration.padding(toLength: 9, withPad: " ", startingAt: 0),
                        run.runbook.padding(toLength: 36, withPad: " ", startingAt: 0),
                        (run.alertname ?? "-").padding(toLength: 26, withPad: " ", startingAt: 0),
                        (run.outcome ?? "running").padding(toLength: 16, withPad: " ", startingAt: 0),
                        run.verification.rawValue,
                    ].joined(separator: " "))
            }
        }
    }
}

struct AuditShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "The whole story of one run, as a timeline.")

    @OptionGroup var location: AuditLocation
    @Argument(help: "The run id.") var runID: String
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text

    func run() async throws {
        try await Self.reporting {
            let log = try await location.open(create: false)
            let records = try await log.records(run: runID)
            guard !records.isEmpty else { throw CommandFailure("no run \(runID) in \(location.display)") }
            if format == .json {
                print("[" + records.map(\.exportLine).joined(separator: ",\n") + "]")
                return
            }
            print(AuditTimeline.text(records))
        }
    }
}

struct AuditVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Recompute the hash chain; exit 0 when intact, 1 naming the first broken record.")

    @OptionGroup var location: AuditLocation
    @Option(
        help: ArgumentHelp("Also require the log to reach this head (from `medic audit head`).", valueName: "seq:hash"))
    var expectHead: String?
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text

    func validate() throws {
        if let expectHead, MedicStore.AuditHead(expectHead) == nil {
            throw ValidationError("--expect-head takes SEQ:HASH (a number, a colon, 64 hex digits)")
        }
    }

    func run() async throws {
        try await Self.reporting {
            let log = try await location.open(create: false)
            let result = try await log.verify(expectHead: expectHead.flatMap(MedicStore.AuditHead.init))
            if format == .json {
                print(
                    JSONValue.object([
                        "intact": .bool(result.intact), "records": JSONValue(result.records),
                        "head": result.head.map { ["seq": JSONValue(Int($0.seq)), "hash": .string($0.hash)] } ?? .null,
                        "first_broken_seq": result.problem?.seq.map { JSONValue(Int($0)) } ?? .null,
                        "problem": JSONValue(result.problem?.description),
                    ]).rendered())
            } else if let problem = result.problem {
                var standardError = StandardError()
                print("broken: \(problem.description)", to: &standardError)
            } else {
                print("ok: \(result.records) records, head \(result.head?.description ?? "(empty)")")
            }
            if !result.intact { throw ExitCode(1) }
        }
    }
}

struct AuditHead: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "head",
        abstract: "Print the last sequence number and hash (SEQ:HASH), to anchor the chain elsewhere.")

    @OptionGroup var location: AuditLocation
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text

    func run() async throws {
        try await Self.reporting {
            let log = try await location.open(create: false)
            guard let head = try await log.head() else { throw CommandFailure("the audit log is empty") }
            if format == .json {
                print(JSONValue.object(["seq": JSONValue(Int(head.seq)), "hash": .string(head.hash)]).rendered())
            } else {
                print("\(head.seq):\(head.hash)")
            }
        }
    }
}

struct AuditExport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Every record, streamed, as JSON Lines (re-verifiable on its own) or CSV.")

    enum ExportFormat: String, ExpressibleByArgument, CaseIterable { case jsonl, csv }

    @OptionGroup var location: AuditLocation
    @Option(help: "jsonl or csv.") var format: ExportFormat = .jsonl
    @Option(help: "Only records since a duration back (24h) or a date.") var since: String?
    @Option(help: "Only records before a duration back or a date.") var until: String?
    @Option(name: .customLong("run"), help: "Only this run's records.") var runID: String?
    @Option(help: "Only records of this kind (run.started, attempt.finished, ...).") var kind: String?

    func run() async throws {
        try await Self.reporting {
            let log = try await location.open(create: false)
            let filter = AuditRecordFilter(
                since: try since.map { try TimeArgument.parse($0) },
                until: try until.map { try TimeArgument.parse($0) },
                runID: runID, kind: kind)
            let output = FileHandle.standardOutput
            var buffer = ""
            func flush() {
                output.write(Data(buffer.utf8))
                buffer.removeAll(keepingCapacity: true)
            }
            if format == .csv { buffer += "seq,time,kind,run_id,prev_hash,hash,body\n" }
            try await log.forEachRecord(where: filter) { record in
                switch format {
                case .jsonl: buffer += record.exportLine + "\n"
                case .csv:
                    buffer +=
                        [
                            String(record.seq), record.time, record.kind, record.runID ?? "", record.prevHash,
                            record.hash, record.body,
                        ]
                        .map(CSV.field).joined(separator: ",") + "\n"
                }
                if buffer.utf8.count > 1 << 16 { flush() }
            }
            flush()
        }
    }
}

enum CSV {
    static func field(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

struct AuditStats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Runs per runbook and outcome, success rate, time to remediation, suppressions."
    )

    @OptionGroup var location: AuditLocation
    @Option(help: "Only runs started since a duration back (7d) or a date.") var since: String?
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text

    func run() async throws {
        try await Self.reporting {
            let log = try await location.open(create: false)
            let stats = try await log.stats(since: try since.map { try TimeArgument.parse($0) })
            if format == .json {
                print(
                    JSONValue.object([
                        "runbooks": .array(
                            stats.runbooks.map { entry in
                                [
                                    "runbook": .string(entry.runbook), "runs": JSONValue(entry.total),
                                    "outcomes": .object(entry.outcomes.mapValues { JSONValue($0) }),
                                    "success_rate": entry.successRate.map(JSONValue.number) ?? .null,
                                    "median_ms": entry.medianMilliseconds.map { JSONValue($0) } ?? .null,
                                    "p95_ms": entry.p95Milliseconds.map { JSONValue($0) } ?? .null,
                                    "verified": JSONValue(entry.verified), "unverified": JSONValue(entry.unverified),
                                    "verified_rate": entry.verifiedRate.map(JSONValue.number) ?? .null,
                                    "time_to_resolve_p50_ms": entry.resolveP50Milliseconds.map { JSONValue($0) } ?? .null,
                                    "time_to_resolve_p90_ms": entry.resolveP90Milliseconds.map { JSONValue($0) } ?? .null,
                                ]
                            }),
                        "suppressed": .object(stats.suppressed.mapValues { JSONValue($0) }),
                    ]).rendered())
                return
            }
            print("RUNBOOK                              RUNS  SUCCESS  MEDIAN   P95      VERIFIED  RESOLVE P50/P90  OUTCOMES")
            for entry in stats.runbooks {
                let rate = entry.successRate.map { String(format: "%5.1f%%", $0 * 100) } ?? "    -"
                let median = entry.medianMilliseconds.map { String(format: "%.1fs", Double($0) / 1000) } ?? "-"
                let p95 = entry.p95Milliseconds.map { String(format: "%.1fs", Double($0) / 1000) } ?? "-"
                let outcomes = entry.outcomes.keys.sorted().map { "\($0)=\(entry.outcomes[$0]!)" }.joined(
                    separator: " ")
                let verified = entry.verifiedRate.map { String(format: "%5.1f%%", $0 * 100) } ?? "    -"
                func seconds(_ value: Int?) -> String { value.map { String(format: "%.0fs", Double($0) / 1000) } ?? "-" }
                let resolve = "\(seconds(entry.resolveP50Milliseconds))/\(seconds(entry.resolveP90Milliseconds))"
                print(
                    "\(entry.runbook.padding(toLength: 36, withPad: " ", startingAt: 0)) \(String(entry.total).padding(toLength: 5, withPad: " ", startingAt: 0)) \(rate)   \(median.padding(toLength: 8, withPad: " ", startingAt: 0)) \(p95.padding(toLength: 8, withPad: " ", startingAt: 0)) \(verified.padding(toLength: 9, withPad: " ", startingAt: 0)) \(resolve.padding(toLength: 16, withPad: " ", startingAt: 0)) \(outcomes)"
                )
            }
            let suppressed = stats.suppressed.values.reduce(0, +)
            print(
                "suppressed triggers: \(suppressed)"
                    + (suppressed == 0
                        ? ""
                        : " ("
                            + stats.suppressed.keys.sorted().map { "\($0)=\(stats.suppressed[$0]!)" }.joined(
                                separator: ", ") + ")"))
        }
    }
}

struct AuditPrune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Remove records older than a date; a checkpoint record keeps the rest of the chain verifiable.")

    @OptionGroup var location: AuditLocation
    @Option(help: "Remove records before this date or duration back (90d, 2026-01-01).") var before: String
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text

    func run() async throws {
        try await Self.reporting {
            let log = try await location.open(create: false)
            let result = try await log.prune(before: try TimeArgument.parse(before), now: Date())
            if format == .json {
                print(
                    JSONValue.object([
                        "removed": JSONValue(result.removed),
                        "checkpoint": result.checkpoint.map {
                            ["seq": JSONValue(Int($0.seq)), "hash": .string($0.hash)]
                        } ?? .null,
                    ]).rendered())
            } else if let checkpoint = result.checkpoint {
                print("removed \(result.removed) records; checkpoint: the chain now starts after \(checkpoint)")
            } else {
                print("nothing to remove")
            }
        }
    }
}

extension SQLiteAuditLog.Durability: ExpressibleByArgument {}
extension RunVerification: ExpressibleByArgument {}

struct AuditMigrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Copy a SQLite audit log into an empty PostgreSQL store, record by record, hashes unchanged.",
        discussion: """
            Stop the Medic that writes the SQLite file first: records it appends during the copy are not copied. \
            The target database must exist and hold no records (its tables are created). The copy is verified: \
            exit 0 when the target's chain verifies and ends at the source's head, 1 otherwise.
            """)

    @OptionGroup var location: AuditLocation
    @Option(help: ArgumentHelp("The PostgreSQL store to copy into (postgres://...).", valueName: "url")) var to: String
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text

    func validate() throws {
        guard PostgresLocation.isURL(to) else {
            throw ValidationError("--to takes a postgres:// or postgresql:// URL, not '\(to)'")
        }
        guard !location.isPostgres else {
            throw ValidationError("--audit must be the SQLite file to copy from; \(location.display) is PostgreSQL")
        }
    }

    func run() async throws {
        try await Self.reporting {
            // Opening closes the runs of Medic processes that are gone; a run still going means a Medic still
            // writes the file, and a copy would leave that run open, owned by nobody, in the new store.
            let source = try await location.open(create: false)
            let running = try await source.runs(matching: RunFilter(outcome: "running", limit: 5))
            guard running.isEmpty else {
                throw CommandFailure(
                    "\(location.display) has runs without an end (\(running.map(\.id).joined(separator: ", "))): stop the Medic that writes it; a run left by a Medic that died and asks for on_interrupt: rollback is rolled back by the next medic serve on this file: start it once, stop it, then migrate"
                )
            }
            let target = try await AuditLocation.open(to, create: true)
            guard let postgres = target as? PostgresAuditLog else { throw CommandFailure("\(to) is not PostgreSQL") }
            let existing = try await postgres.count()
            if existing > 0 {
                throw CommandFailure(
                    "\(postgres.location) already holds \(existing) audit records: migrate only into an empty store")
            }
            guard let sourceHead = try await source.head() else {
                throw CommandFailure("\(location.display) holds no records: nothing to migrate")
            }
            var copied = 0
            var last: Int64 = 0
            var standardError = StandardError()
            while last < sourceHead.seq {
                var page: [AuditRecord] = []
                try await source.forEachRecord(where: AuditRecordFilter(afterSeq: last, limit: 5_000)) {
                    if $0.seq <= sourceHead.seq { page.append($0) }
                }
                guard let end = page.last else { break }
                try await postgres.importRecords(page)
                copied += page.count
                last = end.seq
                if format == .text, copied % 50_000 < page.count {
                    print("copied \(copied) records (through \(last))", to: &standardError)
                }
            }
            let verification = try await postgres.verify(expectHead: sourceHead)
            await postgres.close()
            if format == .json {
                print(
                    JSONValue.object([
                        "copied": JSONValue(copied), "intact": .bool(verification.intact),
                        "head": .string(sourceHead.description),
                        "problem": JSONValue(verification.problem?.description),
                    ]).rendered())
            } else if let problem = verification.problem {
                print("copied \(copied) records, but the copy does not verify: \(problem)", to: &standardError)
            } else {
                print("copied \(copied) records into \(postgres.location); verified, head \(sourceHead)")
            }
            if !verification.intact { throw ExitCode(1) }
        }
    }
}
