import Foundation
import MedicCore
import MedicExecution
import Synchronization
import Testing

/// `medic run`'s live progress: the lines for each event, the summary, and the terminal's status line.
@Suite struct ProgressPrinterTests {
    /// Collects what is written, in order.
    final class Sink: Sendable {
        let written = Mutex<[String]>([])
        func write(_ text: String) { written.withLock { $0.append(text) } }
        var lines: [String] { written.withLock { $0 } }
    }

    @Test("each event is one line with the run's elapsed time; failed output shows its last lines")
    func events() {
        let sink = Sink()
        let printer = ProgressPrinter(output: sink.write)
        let failed = AttemptResult(
            termination: .exited(2), stderr: (1...7).map { "err \($0)" }.joined(separator: "\n"),
            duration: .milliseconds(1500))
        for progress: Executor.Progress in [
            .attemptStarted(step: "probe", phase: .main, attempt: 1, elapsed: .milliseconds(10)),
            .attemptFinished(
                step: "probe", phase: .main, attempt: 1, result: AttemptResult(termination: .exited(0)),
                elapsed: .milliseconds(250)),
            .attemptStarted(step: "fix", phase: .main, attempt: 2, elapsed: .seconds(1)),
            .attemptFinished(step: "fix", phase: .main, attempt: 2, result: failed, elapsed: .milliseconds(2500)),
            .retryScheduled(step: "fix", phase: .main, nextAttempt: 3, delay: .seconds(2)),
            .stepSkipped(step: "verify", reason: "when was false"),
            .rollbackStarted(steps: ["probe"]),
            .attemptFinished(
                step: "probe", phase: .rollback, attempt: 1,
                result: AttemptResult(termination: .signaled(15), timedOut: true), elapsed: .seconds(12)),
            .stopping(steps: ["a", "b"]),
            .finished(.failed, elapsed: .milliseconds(12_350)),
        ] {
            printer.show(progress)
        }
        #expect(
            sink.lines == [
                "[   0.01s] ▶ probe",
                "[   0.25s] ✔ probe succeeded (attempt 1, 0.00s)",
                "[   1.00s] ▶ fix (attempt 2)",
                "[   2.50s] ✘ fix failed: exit 2 (attempt 2, 1.50s)",
                "            | err 3", "            | err 4", "            | err 5", "            | err 6",
                "            | err 7",
                "           ↻ fix: attempt 3 in 2s",
                "           ⤼ verify skipped (when was false)",
                "           ↺ rolling back: probe",
                "[  12.00s] ✘ rollback of probe timed out (attempt 1, 0.00s)",
                "           ■ stopping a, b",
                "[  12.35s] run failed",
            ])
    }

    @Test("the summary lists every step's status and where the run is recorded")
    func summary() {
        let sink = Sink()
        let attempt = RunReport.Attempt(number: 1, startedAt: Date(), result: AttemptResult(termination: .exited(0)))
        let report = RunReport(
            runID: "run-1", runbook: "x", outcome: .succeeded, startedAt: Date(), finishedAt: Date(), params: [:],
            steps: [
                .init(
                    id: "probe", status: .succeeded, skipReason: nil, attempts: [attempt, attempt],
                    rollbackAttempts: [], hasRollback: false),
                .init(
                    id: "verify", status: .skipped, skipReason: "when", attempts: [], rollbackAttempts: [],
                    hasRollback: false),
            ])
        ProgressPrinter(output: sink.write).summary(report, audit: "a.db")
        #expect(
            sink.lines == [
                "",
                "  succeeded        probe (2 attempts)",
                "  skipped          verify",
                "outcome: succeeded   run id: run-1   audit: a.db (medic audit show run-1)",
            ])
    }

    @Test("on a terminal, lines go above a status line naming what runs, at which attempt, for how long")
    func liveStatus() {
        let sink = Sink()
        let start = ContinuousClock.now
        let clock = Mutex(start)
        let live = LiveStatus(write: sink.write, now: { clock.withLock { $0 } })
        let printer = ProgressPrinter(live: live) { _ in Issue.record("lines go through the status line") }
        printer.show(.attemptStarted(step: "fix", phase: .main, attempt: 2, elapsed: .zero))
        clock.withLock { $0 = start + .milliseconds(1500) }
        live.redraw()
        printer.show(
            .attemptFinished(
                step: "fix", phase: .main, attempt: 2, result: AttemptResult(termination: .exited(0)),
                elapsed: .milliseconds(1500)))
        live.clear()
        let status = "\u{1B}[2m… running: fix #2 "
        #expect(sink.lines[1] == "\r\u{1B}[K[   0.00s] ▶ fix (attempt 2)\n\(status)0.0s\u{1B}[0m")
        #expect(sink.lines[2] == "\r\u{1B}[K\(status)1.5s\u{1B}[0m")
        #expect(sink.lines.last == "\r\u{1B}[K")
        #expect(sink.lines.contains("\r\u{1B}[K[   1.50s] ✔ fix succeeded (attempt 2, 0.00s)\n"))
    }
}
