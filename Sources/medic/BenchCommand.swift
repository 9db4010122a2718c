import ArgumentParser
import Foundation
import Hummingbird
import MedicCore
import MedicExecution
import MedicServer
import MedicStore
import Subprocess
import Yams

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `medic bench validate`: hidden benchmark of parsing plus validation against a YAML-only baseline.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks (for developers).",
        shouldDisplay: false,
        subcommands: [ValidateBench.self, StepsBench.self, AuditBench.self, MatchBench.self, IntakeBench.self]
    )
}

struct ValidateBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Parse and validate N runbook files copied from a directory; compare with YAML parsing alone."
    )

    @Option(help: "Directory of runbooks to copy.")
    var runbooks = "runbooks"

    @Option(help: "How many files to validate per repetition.")
    var count = 1000

    @Option(help: "Repetitions; the median is reported.")
    var repetitions = 5

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    func run() throws {
        let templates = try RunbookDirectory().load([runbooks]).sources
        guard !templates.isEmpty else { throw ValidationError("no runbooks under \(runbooks)") }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("medic-bench-\(getpid())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        var bytes = 0
        for index in 0..<count {
            let source = templates[index % templates.count]
            // Give every copy its own id so the cross-file duplicate check is exercised but stays quiet.
            let text = String(decoding: source.data, as: UTF8.self).replacingOccurrences(
                of: "runbook: \(source.runbook?.id ?? "")", with: "runbook: \(source.runbook?.id ?? "x")-\(index)")
            bytes += text.utf8.count
            try text.write(to: scratch.appendingPathComponent("rb-\(index).yaml"), atomically: false, encoding: .utf8)
        }
        let files = RunbookDirectoryListing.files(in: scratch.path)

        var medicTimes: [Double] = []
        var yamlTimes: [Double] = []
        var errors = 0
        for _ in 0..<repetitions {
            // Interleave so drift on a shared machine hits both figures alike.
            yamlTimes.append(
                try Self.time {
                    for file in files {
                        let text = try String(contentsOfFile: file, encoding: .utf8)
                        _ = try Yams.compose(yaml: text)
                    }
                })
            medicTimes.append(
                try Self.time {
                    let loaded = try RunbookDirectory().load([scratch.path])
                    errors = loaded.diagnostics.errorCount
                })
        }
        let medic = Self.median(medicTimes)
        let yaml = Self.median(yamlTimes)
        let ratio = medic / max(yaml, 1e-9)
        if format == .json {
            print(
                #"{"benchmark":"validate","files":\#(count),"bytes":\#(bytes),"medic_seconds":\#(medic),"yaml_compose_seconds":\#(yaml),"ratio":\#(ratio),"errors":\#(errors)}"#
            )
        } else {
            print("figure                                  medic      baseline   ratio")
            print(
                String(
                    format:
                        "parse+validate %5d files (%4d KiB)   %7.3fs   %7.3fs   %.2fx  (baseline: Yams.compose only)",
                    count, bytes / 1024, medic, yaml, ratio))
            print("median of \(repetitions); \(errors) errors reported")
        }
    }

    static func time(_ body: () throws -> Void) throws -> Double {
        let start = ContinuousClock.now
        try body()
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted[sorted.count / 2]
    }
}

enum RunbookDirectoryListing {
    static func files(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted().map { directory + "/" + $0 }
    }
}

/// `medic bench steps`: per-step overhead of a run of N `/bin/true` steps against spawning `/bin/true` N times,
/// with the layers in between measured too (swift-subprocess alone, Medic's process runner alone).
struct StepsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "steps",
        abstract: "Run a runbook of N sequential /bin/true steps; compare with spawning /bin/true N times directly."
    )

    @Option(help: "Steps per run.")
    var count = 200

    @Option(help: "Repetitions; the median is reported.")
    var repetitions = 7

    @Option(help: "Durability of the audit log in the durable row: full (fsync per commit) or normal.")
    var durability: SQLiteAuditLog.Durability = .full

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    func run() async throws {
        let steps = (0..<count).map { "  - id: s\($0)\n    run: [/bin/true]\n    timeout: 10s\n" }.joined()
        let source = RunbookSource.check(data: Data("runbook: bench\nsteps:\n\(steps)".utf8), path: "bench.yaml")
        guard let runbook = source.runbook else { throw ValidationError("bench runbook invalid") }
        var times: [String: [Double]] = [:]
        for repetition in 0..<repetitions {
            // Interleaved, so drift on a shared machine hits every figure alike.
            times["spawn", default: []].append(try ValidateBench.time { try Self.spawnLoop(count) })

            var start = ContinuousClock.now
            for _ in 0..<count {
                var options = PlatformOptions()
                options.createSession = true
                _ = try await Subprocess.run(.path("/bin/true"), platformOptions: options, output: .discarded)
            }
            times["subprocess", default: []].append(Self.seconds(ContinuousClock.now - start))

            let prepared = try PreparedRun.prepare(
                runbook, runID: "bench-\(repetition)", given: [:], alert: nil,
                environment: ProcessInfo.processInfo.environment
            ).get()
            let runner = SubprocessRunner()
            let request = AttemptRequest(
                step: "s", phase: .main, attempt: 1, command: .argv(["/bin/true"]),
                environment: prepared.baseEnvironment,
                timeout: .seconds(10))
            start = ContinuousClock.now
            for _ in 0..<count { _ = await runner.run(request, stop: StopSignal()) }
            times["runner", default: []].append(Self.seconds(ContinuousClock.now - start))

            let executor = Executor(audit: InMemoryAuditLog(), maxParallel: 1)
            start = ContinuousClock.now
            let report = try await executor.run(prepared)
            times["medic", default: []].append(Self.seconds(ContinuousClock.now - start))
            guard report.outcome == .succeeded else { throw ValidationError("bench run \(report.outcome.rawValue)") }

            let auditPath = FileManager.default.temporaryDirectory.appendingPathComponent(
                "medic-steps-bench-\(getpid())-\(repetition).db"
            ).path
            let durable = Executor(
                audit: try SQLiteAuditLog(path: auditPath, durability: durability, writer: .callerWhenIdle),
                maxParallel: 1)
            start = ContinuousClock.now
            _ = try await durable.run(prepared)
            times["durable", default: []].append(Self.seconds(ContinuousClock.now - start))
            for suffix in ["", "-wal", "-shm", ".lock"] {
                try? FileManager.default.removeItem(atPath: auditPath + suffix)
            }
        }
        let spawn = ValidateBench.median(times["spawn"]!)
        let rows: [(String, String)] = [
            ("durable", "executor with the durable SQLite audit log"),
            ("medic", "executor, in-memory audit log"), ("runner", "process runner alone"),
            ("subprocess", "swift-subprocess alone (no pipes)"),
        ]
        if format == .json {
            var fields = ["\"benchmark\":\"steps\"", "\"steps\":\(count)", "\"spawn_loop_seconds\":\(spawn)"]
            for (key, _) in rows {
                let value = ValidateBench.median(times[key]!)
                fields.append("\"\(key)_seconds\":\(value)")
                fields.append("\"\(key)_ratio\":\(value / spawn)")
            }
            print("{" + fields.joined(separator: ",") + "}")
            return
        }
        print("figure (\(count) x /bin/true, per step)              medic      baseline   ratio")
        for (key, label) in rows {
            let value = ValidateBench.median(times[key]!)
            print(
                String(
                    format: "%@ %7.3fms   %7.3fms   %.2fx", label.padding(toLength: 44, withPad: " ", startingAt: 0),
                    value * 1000 / Double(count), spawn * 1000 / Double(count), value / spawn))
        }
        print(
            "baseline: a posix_spawn + waitpid loop (the physical limit); median of \(repetitions); target for medic: 1.5x"
        )
    }

    /// The physical limit: posix_spawn and waitpid, nothing else.
    static func spawnLoop(_ count: Int) throws {
        for _ in 0..<count {
            var pid: pid_t = 0
            let path = "/bin/true"
            var argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), nil]
            defer { for pointer in argv { free(pointer) } }
            let rc = posix_spawn(&pid, path, nil, nil, &argv, environ)
            guard rc == 0 else { throw ValidationError("posix_spawn failed: \(rc)") }
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }
}

/// `medic bench audit`: append throughput (one record per transaction, and batched), and query latency at scale.
struct AuditBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Append records to a scratch audit log (single and batched) and time list/show/stats on a large one."
    )

    @Option(help: "Records to append in each of the single and batched passes.")
    var records = 100_000

    @Option(help: "Records per transaction on the batched path.")
    var batch = 500

    @Option(help: "Size of the log on which list/show/stats are timed (0 skips).")
    var queryRecords = 1_000_000

    @Option(help: "Durability of the scratch log: full (fsync per commit) or normal.")
    var durability: SQLiteAuditLog.Durability = .full

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    static func event(_ index: Int, runs: Int) -> AuditEvent {
        let run = "bench-run-\(index / 10)"
        let kind: AuditKind = index % 10 == 0 ? .runStarted : (index % 10 == 9 ? .runFinished : .attemptFinished)
        var body: [String: JSONValue] = [
            "step": .string("step-\(index % 10)"), "exit_code": 0, "stdout": .string("output line \(index)\n"),
            "duration_ms": JSONValue(index % 1000),
        ]
        if kind == .runStarted {
            body = [
                "runbook": .string("runbook-\(index / 10 % runs)"), "initiator": "alert",
                "alert": [
                    "fingerprint": .string(String(index, radix: 16)),
                    "labels": ["alertname": .string("Alert\(index % 7)")],
                ],
            ]
        } else if kind == .runFinished {
            body = ["outcome": .string(index % 30 == 29 ? "failed" : "succeeded")]
        }
        return AuditEvent(
            time: Date(timeIntervalSince1970: 1_800_000_000 + Double(index) / 10), kind: kind, runID: run, body: body)
    }

    func run() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("medic-audit-bench-\(getpid())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }

        let single = try SQLiteAuditLog(path: scratch.appendingPathComponent("single.db").path, durability: durability)
        var start = ContinuousClock.now
        for index in 0..<records { try await single.append(Self.event(index, runs: 50)) }
        let singleSeconds = StepsBench.seconds(ContinuousClock.now - start)

        let batched = try SQLiteAuditLog(
            path: scratch.appendingPathComponent("batched.db").path, durability: durability)
        start = ContinuousClock.now
        var index = 0
        while index < records {
            let end = min(records, index + batch)
            try await batched.append(batch: (index..<end).map { Self.event($0, runs: 50) })
            index = end
        }
        let batchedSeconds = StepsBench.seconds(ContinuousClock.now - start)
        if format == .json {
            print(
                #"{"benchmark":"audit","records":\#(records),"batch":\#(batch),"single_records_per_second":\#(Double(records) / singleSeconds),"batched_records_per_second":\#(Double(records) / batchedSeconds)}"#
            )
            return
        }
        print("figure                                           value")
        print(
            String(
                format: "append, one record per transaction (%@)     %9.0f records/s", durability.rawValue,
                Double(records) / singleSeconds))
        print(
            String(
                format: "append, %4d records per transaction (%@)   %9.0f records/s", batch, durability.rawValue,
                Double(records) / batchedSeconds))
        start = ContinuousClock.now
        let verification = try batched.verify()
        print(
            String(
                format: "verify %d records                          %9.0f records/s", verification.records,
                Double(verification.records) / StepsBench.seconds(ContinuousClock.now - start)))

        guard queryRecords > 0 else { return }
        let large = try SQLiteAuditLog(path: scratch.appendingPathComponent("large.db").path, durability: .normal)
        index = 0
        while index < queryRecords {
            let end = min(queryRecords, index + 10_000)
            try await large.append(batch: (index..<end).map { Self.event($0, runs: 50) })
            index = end
        }
        func timed(_ label: String, _ body: () throws -> Void) rethrows {
            let start = ContinuousClock.now
            try body()
            let milliseconds = StepsBench.seconds(ContinuousClock.now - start) * 1000
            print(
                String(
                    format: "%@ %8.1f ms  (target < 100 ms)", label.padding(toLength: 48, withPad: " ", startingAt: 0),
                    milliseconds))
        }
        try timed("audit list (50 newest) at \(queryRecords) records") { _ = try large.runs(.init(limit: 50)) }
        try timed("audit list --runbook --outcome failed") {
            _ = try large.runs(.init(runbook: "runbook-7", outcome: "failed"))
        }
        try timed("audit show (one run)") { _ = try large.records(run: "bench-run-\(queryRecords / 20)") }
        try timed("audit stats") { _ = try large.stats(since: nil) }
    }
}

/// `medic bench match`: alerts matched per second with many runbooks loaded, against scanning every trigger.
struct MatchBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "match",
        abstract: "Match alerts against N runbooks through the trigger index; compare with a full scan.")

    @Option(help: "Runbooks to load.") var runbooks = 10_000
    @Option(help: "Alerts to match.") var alerts = 100_000
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text

    func run() throws {
        let loaded: [Runbook] = (0..<runbooks).map { index in
            Runbook(
                id: "rb-\(index)",
                triggers: [
                    Trigger(matchers: [
                        LabelMatcher(name: "alertname", op: .equal, value: "Alert\(index % 2_000)"),
                        LabelMatcher(name: "severity", op: .regexMatch, value: "warning|critical"),
                        LabelMatcher(name: "team", op: .notEqual, value: "team-\(index % 50)"),
                    ])
                ],
                steps: [Step(id: "a", body: StepBody(action: .run([Template(literal: "true")])))])
        }
        let index = TriggerIndex(loaded)
        let samples = (0..<1_000).map { i in
            Alert(
                source: .alertmanager, status: .firing,
                labels: [
                    "alertname": "Alert\(i * 7 % 2_500)", "severity": "critical", "team": "team-\(i % 60)",
                    "instance": "host-\(i)",
                ])
        }
        var matched = 0
        var start = ContinuousClock.now
        for i in 0..<alerts {
            matched += index.evaluate(samples[i % samples.count]).filter(\.matches).count
        }
        let indexed = StepsBench.seconds(ContinuousClock.now - start)
        let scanAlerts = max(1, alerts / 100)
        var scanned = 0
        start = ContinuousClock.now
        for i in 0..<scanAlerts {
            let labels = samples[i % samples.count].labels
            scanned += loaded.filter { $0.triggers[0].matchers.allSatisfy { $0.matches(labels) } }.count
        }
        let scan = StepsBench.seconds(ContinuousClock.now - start) * Double(alerts) / Double(scanAlerts)
        if format == .json {
            print(
                #"{"benchmark":"match","runbooks":\#(runbooks),"alerts":\#(alerts),"indexed_alerts_per_second":\#(Double(alerts) / indexed),"scan_alerts_per_second":\#(Double(alerts) / scan)}"#
            )
            return
        }
        print("figure                                        medic          baseline (scan)   ratio")
        print(
            String(
                format: "alerts matched per second, %5d runbooks   %9.0f/s   %9.0f/s        %.0fx faster", runbooks,
                Double(alerts) / indexed, Double(alerts) / scan, scan / indexed))
        print(
            String(
                format: "time per alert                               %8.2f µs   (target: over 100,000 alerts/s)",
                indexed / Double(alerts) * 1e6))
        _ = (matched, scanned)
    }
}

/// `medic bench intake`: alerts posted over loopback to a real server with a durable audit log, against the
/// same server's static endpoint (the HTTP ceiling), interleaved; checks that every alert was recorded.
struct IntakeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "intake", abstract: "Post N alerts over loopback; compare with GET /healthz; check none was lost.")

    @Option(help: "Alerts to post.") var alerts = 20_000
    @Option(help: "Requests in flight at once.") var concurrency = 16

    func run() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("medic-intake-bench-\(getpid())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let audit = try SQLiteAuditLog(path: scratch.appendingPathComponent("audit.db").path)
        let dispatcher = Dispatcher(runbooks: [], audit: audit, environment: [:])
        let server = IntakeServer(dispatcher: dispatcher, settings: .init(), digest: { Digest.sha256($0) })
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: server.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { portContinuation.yield($0.localAddress?.port ?? 0) })
        let count = alerts
        let inFlight = concurrency
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var iterator = ports.makeAsyncIterator()
            let port = await iterator.next() ?? 0
            let base = "http://127.0.0.1:\(port)"
            let session = URLSession(configuration: .ephemeral)

            func burst(_ make: @escaping @Sendable (Int) -> URLRequest) async throws -> (Double, Int) {
                let start = ContinuousClock.now
                // Keeps `inFlight` requests going; counts the answers that were not 2xx.
                let failures = try await withThrowingTaskGroup(of: Int.self) { requests in
                    var next = 0
                    var failed = 0
                    func send() {
                        guard next < count else { return }
                        let request = make(next)
                        next += 1
                        requests.addTask {
                            let (_, response) = try await session.data(for: request)
                            return (response as? HTTPURLResponse).map { $0.statusCode < 300 ? 0 : 1 } ?? 1
                        }
                    }
                    for _ in 0..<inFlight { send() }
                    while let result = try await requests.next() {
                        failed += result
                        send()
                    }
                    return failed
                }
                return (Double(count) / StepsBench.seconds(ContinuousClock.now - start), failures)
            }

            let (ceiling, _) = try await burst { _ in URLRequest(url: URL(string: "\(base)/healthz")!) }
            // While the alerts pour in, a separate connection asks /healthz every 20 ms: the server must stay
            // responsive to its supervisor (a liveness probe that times out gets the process restarted).
            let probing = Task { () -> (latencies: [Double], failed: Int) in
                let probeSession = URLSession(configuration: .ephemeral)
                var latencies: [Double] = []
                var failed = 0
                while !Task.isCancelled, latencies.count + failed < 100_000 {
                    let start = ContinuousClock.now
                    let status = try? await
                        (probeSession.data(from: URL(string: "\(base)/healthz")!).1
                        as? HTTPURLResponse)?.statusCode
                    if status == 200 {
                        latencies.append(StepsBench.seconds(ContinuousClock.now - start) * 1000)
                    } else if !Task.isCancelled {
                        failed += 1
                    }
                    try? await Task.sleep(for: .milliseconds(20))
                }
                return (latencies.sorted(), failed)
            }
            let (intake, failures) = try await burst { index in
                var request = URLRequest(url: URL(string: "\(base)/v1/alerts/alertmanager")!)
                request.httpMethod = "POST"
                request.httpBody = Data(
                    #"{"alerts":[{"status":"firing","labels":{"alertname":"Bench","instance":"host-\#(index)"}}]}"#.utf8
                )
                return request
            }
            probing.cancel()
            let probes = await probing.value
            func percentile(_ p: Double) -> Double {
                probes.latencies.isEmpty
                    ? .nan : probes.latencies[min(probes.latencies.count - 1, Int(Double(probes.latencies.count) * p))]
            }
            var received = 0
            try audit.forEachRecord(where: .init(kinds: [.alertReceived])) { _ in received += 1 }
            print("figure                                           medic        baseline     ratio")
            print(
                String(
                    format:
                        "alerts/s, recorded durably (%d alerts, %d in flight)  %7.0f/s   %7.0f/s   %.0f%% of the HTTP ceiling (GET /healthz)",
                    count, inFlight, intake, ceiling, intake / ceiling * 100))
            print(
                "recorded \(received) of \(count) alerts; \(failures) non-2xx answers\(received == count ? "" : "  <-- LOST ALERTS")"
            )
            print(
                String(
                    format:
                        "GET /healthz during the burst: %d answered, %d failed; p50 %.1f ms, p99 %.1f ms, max %.1f ms",
                    probes.latencies.count, probes.failed, percentile(0.5), percentile(0.99),
                    probes.latencies.last ?? .nan))
            group.cancelAll()
        }
    }
}
