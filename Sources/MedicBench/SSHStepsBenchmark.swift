import Foundation
import MedicCore
import MedicExecution
import Subprocess

/// `medic bench steps --ssh HOST`: per-step overhead of a remote `/bin/true` step with a warm connection,
/// through Medic's runner and through a whole run, next to a plain `ssh HOST /bin/true` loop over the same
/// ControlMaster socket (the floor: what ssh itself costs per command).
public struct SSHStepsBenchmark: Sendable {
    public var target: ResolvedTarget
    public var settings: SSHSettings
    public var count: Int
    public var repetitions: Int
    public var json: Bool

    public init(target: ResolvedTarget, settings: SSHSettings, count: Int, repetitions: Int, json: Bool) {
        self.target = target
        self.settings = settings
        self.count = count
        self.repetitions = repetitions
        self.json = json
    }

    public func run() async throws {
        let runner = SubprocessRunner(ssh: settings)
        let request = AttemptRequest(
            step: "s", phase: .main, attempt: 1, command: .argv(["/bin/true"]),
            environment: ["PATH": PreparedRun.defaultPath], timeout: .seconds(30), target: target)
        // Warm the connection (and fail early with ssh's own words).
        let first = await runner.run(request, stop: StopSignal())
        guard first.succeeded else {
            throw BenchFailure("cannot run /bin/true on \(target): \(first.launchFailure ?? first.stderr)")
        }
        let plain = SSHTransport.arguments(for: target, settings: settings, shared: true, remoteCommand: "/bin/true")
        let steps = (0..<count).map { "  - id: s\($0)\n    run: [/bin/true]\n    timeout: 30s\n" }.joined()
        var text = "runbook: bench\ntarget: { ssh: \(target.host)"
        if let user = target.user { text += ", user: \(user)" }
        if let port = target.port { text += ", port: \(port)" }
        text += " }\nsteps:\n\(steps)"
        guard let runbook = RunbookSource.check(data: Data(text.utf8), path: "bench.yaml").runbook else {
            throw BenchFailure("bench runbook invalid")
        }
        var times: [String: [Double]] = [:]
        for repetition in 0..<repetitions {
            // Interleaved, so drift on a shared machine hits every figure alike.
            var start = ContinuousClock.now
            for _ in 0..<count {
                let result = try await Subprocess.run(
                    .name("ssh"), arguments: Arguments(Array(plain.dropFirst())), input: .none, output: .discarded,
                    error: .discarded)
                guard result.terminationStatus.isSuccess else { throw BenchFailure("plain ssh failed") }
            }
            times["ssh", default: []].append(BenchClock.seconds(ContinuousClock.now - start))

            start = ContinuousClock.now
            for _ in 0..<count { _ = await runner.run(request, stop: StopSignal()) }
            times["runner", default: []].append(BenchClock.seconds(ContinuousClock.now - start))

            let prepared = try PreparedRun.prepare(
                runbook, runID: "bench-ssh-\(repetition)", given: [:], alert: nil,
                environment: ["PATH": PreparedRun.defaultPath]
            ).get()
            let executor = Executor(runner: runner, audit: InMemoryAuditLog(), maxParallel: 1)
            start = ContinuousClock.now
            let report = try await executor.run(prepared)
            times["medic", default: []].append(BenchClock.seconds(ContinuousClock.now - start))
            guard report.outcome == .succeeded else { throw BenchFailure("bench run \(report.outcome.rawValue)") }
        }
        let floor = BenchClock.median(times["ssh"]!)
        let rows = [("medic", "remote step through a run"), ("runner", "remote attempt, process runner alone")]
        if json {
            var fields = ["\"benchmark\":\"steps-ssh\"", "\"steps\":\(count)", "\"ssh_loop_seconds\":\(floor)"]
            for (key, _) in rows {
                let value = BenchClock.median(times[key]!)
                fields += ["\"\(key)_seconds\":\(value)", "\"\(key)_ratio\":\(value / floor)"]
            }
            print("{" + fields.joined(separator: ",") + "}")
            return
        }
        print("figure (\(count) x /bin/true on \(target), per step)   medic      baseline   ratio")
        for (key, label) in rows {
            let value = BenchClock.median(times[key]!)
            print(BenchClock.perStepRow(label, value, floor, count: count))
        }
        print("baseline: `ssh HOST /bin/true` in a loop over the same ControlMaster socket; median of \(repetitions)")
    }
}
