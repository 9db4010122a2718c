import Foundation
import MedicCore
import MedicExecution
import MedicStore
import Subprocess

/// `medic bench steps`: per-step overhead of a run of N `/bin/true` steps against spawning `/bin/true` N times,
/// with the layers in between measured too (swift-subprocess alone, Medic's process runner alone).
public struct StepsBenchmark: Sendable {
    /// Steps per run.
    public var count: Int
    /// Repetitions; the median is reported.
    public var repetitions: Int
    /// Durability of the audit log in the durable row.
    public var durability: SQLiteAuditLog.Durability
    /// One JSON object instead of a table.
    public var json: Bool

    public init(count: Int, repetitions: Int, durability: SQLiteAuditLog.Durability, json: Bool) {
        self.count = count
        self.repetitions = repetitions
        self.durability = durability
        self.json = json
    }

    public func run() async throws {
        let steps = (0..<count).map { "  - id: s\($0)\n    run: [/bin/true]\n    timeout: 10s\n" }.joined()
        let source = RunbookSource.check(data: Data("runbook: bench\nsteps:\n\(steps)".utf8), path: "bench.yaml")
        guard let runbook = source.runbook else { throw BenchFailure("bench runbook invalid") }
        var times: [String: [Double]] = [:]
        for repetition in 0..<repetitions {
            // Interleaved, so drift on a shared machine hits every figure alike.
            times["spawn", default: []].append(try BenchClock.time { try Self.spawnLoop(count) })

            var start = ContinuousClock.now
            for _ in 0..<count {
                var options = PlatformOptions()
                options.createSession = true
                _ = try await Subprocess.run(.path("/bin/true"), platformOptions: options, output: .discarded)
            }
            times["subprocess", default: []].append(BenchClock.seconds(ContinuousClock.now - start))

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
            times["runner", default: []].append(BenchClock.seconds(ContinuousClock.now - start))

            let executor = Executor(audit: InMemoryAuditLog(), maxParallel: 1)
            start = ContinuousClock.now
            let report = try await executor.run(prepared)
            times["medic", default: []].append(BenchClock.seconds(ContinuousClock.now - start))
            guard report.outcome == .succeeded else { throw BenchFailure("bench run \(report.outcome.rawValue)") }

            let auditPath = FileManager.default.temporaryDirectory.appendingPathComponent(
                "medic-steps-bench-\(getpid())-\(repetition).db"
            ).path
            let durable = Executor(
                audit: try SQLiteAuditLog(path: auditPath, durability: durability, writer: .callerWhenIdle),
                maxParallel: 1)
            start = ContinuousClock.now
            _ = try await durable.run(prepared)
            times["durable", default: []].append(BenchClock.seconds(ContinuousClock.now - start))
            for suffix in ["", "-wal", "-shm", ".lock"] {
                try? FileManager.default.removeItem(atPath: auditPath + suffix)
            }
        }
        let spawn = BenchClock.median(times["spawn"]!)
        let rows: [(String, String)] = [
            ("durable", "executor with the durable SQLite audit log"),
            ("medic", "executor, in-memory audit log"), ("runner", "process runner alone"),
            ("subprocess", "swift-subprocess alone (no pipes)"),
        ]
        if json {
            var fields = ["\"benchmark\":\"steps\"", "\"steps\":\(count)", "\"spawn_loop_seconds\":\(spawn)"]
            for (key, _) in rows {
                let value = BenchClock.median(times[key]!)
                fields.append("\"\(key)_seconds\":\(value)")
                fields.append("\"\(key)_ratio\":\(value / spawn)")
            }
            print("{" + fields.joined(separator: ",") + "}")
            return
        }
        print("figure (\(count) x /bin/true, per step)              medic      baseline   ratio")
        for (key, label) in rows {
            let value = BenchClock.median(times[key]!)
            print(BenchClock.perStepRow(label, value, spawn, count: count))
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
            guard rc == 0 else { throw BenchFailure("posix_spawn failed: \(rc)") }
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }
}
