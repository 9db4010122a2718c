import ArgumentParser
import MedicBench
import MedicCore
import MedicExecution
import MedicStore

/// `medic bench ...`: the benchmark harness (MedicBench), for developers; scripts/bench.sh and bench.py call it.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks (for developers).",
        shouldDisplay: false,
        subcommands: [ValidateBench.self, StepsBench.self, AuditBench.self, MatchBench.self, IntakeBench.self]
    )

    /// A benchmark that cannot be set up is a usage error (exit 64), as it always was.
    static func usage<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let failure as BenchFailure {
            throw ValidationError(failure.description)
        }
    }
}

struct ValidateBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Parse and validate N runbook files copied from a directory; compare with YAML parsing alone."
    )

    @Option(help: "Directory of runbooks to copy.") var runbooks = "runbooks"
    @Option(help: "How many files to validate per repetition.") var count = 1000
    @Option(help: "Repetitions; the median is reported.") var repetitions = 5
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text

    func run() async throws {
        try await BenchCommand.usage {
            try ValidateBenchmark(runbooks: runbooks, count: count, repetitions: repetitions, json: format == .json)
                .run()
        }
    }
}

struct StepsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "steps",
        abstract: "Run a runbook of N sequential /bin/true steps; compare with spawning /bin/true N times directly."
    )

    @Option(help: "Steps per run.") var count = 200
    @Option(help: "Repetitions; the median is reported.") var repetitions = 7
    @Option(help: "Durability of the audit log in the durable row: full (fsync per commit) or normal.")
    var durability: SQLiteAuditLog.Durability = .full
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text
    @Option(help: "Instead: remote /bin/true steps on this host over SSH, against a plain ssh loop.") var ssh: String?
    @Option(help: "With --ssh: the port.") var sshPort: Int?
    @Option(help: "With --ssh: the login user.") var sshUser: String?
    @Option(help: "With --ssh: the ssh_config file (ssh -F FILE).") var sshConfig: String?

    func run() async throws {
        try await BenchCommand.usage {
            if let ssh {
                if let problem = SSHTarget.problem(withHost: ssh) { throw BenchFailure("--ssh: \(problem)") }
                try await SSHStepsBenchmark(
                    target: ResolvedTarget(host: ssh, user: sshUser, port: sshPort),
                    settings: SSHSettings(configFile: sshConfig), count: count, repetitions: repetitions,
                    json: format == .json
                ).run()
                return
            }
            try await StepsBenchmark(
                count: count, repetitions: repetitions, durability: durability, json: format == .json
            ).run()
        }
    }
}

struct AuditBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Append records to a scratch audit log (single and batched) and time list/show/stats on a large one."
    )

    @Option(help: "Records to append in each of the single and batched passes.") var records = 100_000
    @Option(help: "Records per transaction on the batched path.") var batch = 500
    @Option(help: "Size of the log on which list/show/stats are timed (0 skips).") var queryRecords = 1_000_000
    @Option(help: "Durability of the scratch log: full (fsync per commit) or normal.")
    var durability: SQLiteAuditLog.Durability = .full
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text

    func run() async throws {
        try await BenchCommand.usage {
            try await AuditBenchmark(
                records: records, batch: batch, queryRecords: queryRecords, durability: durability,
                json: format == .json
            ).run()
        }
    }
}

struct MatchBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "match",
        abstract:
            "Match alerts against N runbooks through the trigger index; compare with the ICU regex path and a full scan.")

    @Option(help: "Runbooks to load.") var runbooks = 10_000
    @Option(help: "Alerts to match.") var alerts = 100_000
    @Flag(help: "Instead: time one decision of patterns such as (a+)+$ against 100 KiB hostile values.")
    var hostile = false
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text

    func run() async throws {
        if hostile {
            try HostileMatchBenchmark(json: format == .json).run()
        } else {
            try MatchBenchmark(runbooks: runbooks, alerts: alerts, json: format == .json).run()
        }
    }
}

struct IntakeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "intake", abstract: "Post N alerts over loopback; compare with GET /healthz; check none was lost.")

    @Option(help: "Alerts to post.") var alerts = 20_000
    @Option(help: "Requests in flight at once.") var concurrency = 16

    func run() async throws {
        try await IntakeBenchmark(alerts: alerts, concurrency: concurrency).run()
    }
}
