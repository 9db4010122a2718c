import Foundation
import MedicCore
import MedicExecution
import Testing

/// Steps that misbehave on purpose (docs/safety.md, "Hostile steps"): Medic must end each one within its
/// limits, leave nothing behind in the step's process group, and record what happened.
@Suite(.serialized) struct StepFaultTests {
    let runner = SubprocessRunner()

    /// Live processes whose command line contains `marker`.
    static func survivors(_ marker: String) -> [Int32] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap(Int32.init) ?? []
        return pids.filter { pid in
            guard SubprocessRunnerTests.isAlive(pid),
                let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")
            else { return false }
            return String(decoding: raw, as: UTF8.self).contains(marker)
        }
    }

    @Test("a fork burst (300 processes, two levels deep) is torn down whole at the timeout")
    func forkBurst() async throws {
        // A bounded fork bomb: 60 subshells that each start 4 sleepers and wait. Root ignores RLIMIT_NPROC,
        // so the bound is in the script; what is checked is that the whole tree dies with the step.
        let marker = "61.\(Int.random(in: 1000...9999))"
        let script = "for i in $(seq 1 60); do (for j in 1 2 3 4; do sleep \(marker) & done; wait) & done; wait"
        let started = ContinuousClock.now
        let result = await runner.run(
            SubprocessRunnerTests.sh(script, timeout: .seconds(1), grace: .milliseconds(500)), stop: StopSignal())
        #expect(result.timedOut)
        #expect(ContinuousClock.now - started < Bounds.promptly)
        var left = Self.survivors(marker)
        for _ in 0..<20 where !left.isEmpty {
            try await Task.sleep(for: .milliseconds(100))
            left = Self.survivors(marker)
        }
        #expect(left.isEmpty, "\(left.count) sleepers survived the step")
    }

    @Test("binary garbage on stdout and stderr is counted, kept bounded and recorded as valid text")
    func binaryGarbage() async throws {
        let result = await runner.run(
            SubprocessRunnerTests.sh(
                "head -c 300000 /dev/urandom; head -c 70000 /dev/urandom >&2; printf '\\377\\376\\000end'",
                timeout: .seconds(10)),
            stop: StopSignal())
        #expect(result.succeeded)
        #expect(result.stdoutBytes == 300_006)
        #expect(result.stderrBytes == 70_000)
        #expect(result.stdout.utf8.count <= 3 * 65_536 + 1024, "kept output is bounded")
        // What is recorded must be JSON the audit log and an export can carry.
        let line = AuditEvent(time: Date(), kind: .attemptFinished, runID: "r", body: result.jsonFields).jsonLine
        #expect(try JSONSerialization.jsonObject(with: Data(line.utf8)) is [String: Any])
        #expect(result.stdout.hasSuffix("end"))
    }

    @Test("a step that ignores SIGTERM, closes its output and never exits is killed at timeout plus grace")
    func neverExits() async throws {
        let marker = "62.\(Int.random(in: 1000...9999))"
        let script = "trap '' TERM; exec >&- 2>&-; while true; do sleep \(marker); done"
        let started = ContinuousClock.now
        let result = await runner.run(
            SubprocessRunnerTests.sh(script, timeout: .milliseconds(300), grace: .milliseconds(300)),
            stop: StopSignal())
        let elapsed = ContinuousClock.now - started
        #expect(result.timedOut)
        #expect(result.termination == .signaled(SIGKILL))
        #expect(elapsed >= .milliseconds(550) && elapsed < Bounds.promptly, "\(elapsed)")
        try await Task.sleep(for: .milliseconds(200))
        #expect(Self.survivors(marker).isEmpty)
    }

    @Test("120 steps that close their output and live on: each exit is noticed by the shared exit monitor")
    func manyLongStepsAtOnce() async throws {
        let started = ContinuousClock.now
        // Only the exit watch can notice these end: their output closes at once, long before they exit.
        let results = await withTaskGroup(of: AttemptResult.self) { group in
            for index in 0..<120 {
                group.addTask {
                    await runner.run(
                        SubprocessRunnerTests.sh(
                            "exec >/dev/null 2>&1; sleep 0.\(5 + index % 5); exit \(index % 3)", timeout: .seconds(90)),
                        stop: StopSignal())
                }
            }
            var all: [AttemptResult] = []
            for await result in group { all.append(result) }
            return all
        }
        #expect(results.count == 120)
        #expect(results.allSatisfy { !$0.timedOut && !$0.cancelled })
        #expect(results.filter { $0.termination == .exited(0) }.count == 40)
        #expect(results.filter { $0.termination == .exited(2) }.count == 40)
        #expect(ContinuousClock.now - started < Bounds.promptly)
    }
}
