import Foundation
import MedicCore

/// Prints the live progress of `medic run`: one plain line per event, with the elapsed time of the run, then a
/// summary. Lines go to a terminal's `LiveStatus` when there is one (above its status line), else to `output`.
public struct ProgressPrinter: Sendable {
    /// Receives each line, without its newline.
    public let output: @Sendable (String) -> Void
    public let live: LiveStatus?

    public init(live: LiveStatus? = nil, output: @escaping @Sendable (String) -> Void) {
        self.live = live
        self.output = output
    }

    public func line(_ text: String) {
        if let live {
            live.print(text)
        } else {
            output(text)
        }
    }

    static func seconds(_ duration: Duration) -> String {
        String(format: "%7.2fs", Double(duration.milliseconds) / 1000)
    }

    public func header(_ prepared: PreparedRun, source: String) {
        line(
            "run \(prepared.context.runID): runbook \(prepared.runbook.id) (\(source)), \(prepared.runbook.steps.count) steps"
        )
    }

    public func show(_ progress: Executor.Progress) {
        live?.update(progress)
        switch progress {
        case .attemptStarted(let step, let phase, let attempt, let elapsed):
            let what = phase == .rollback ? "rollback of \(step)" : step
            line("[\(Self.seconds(elapsed))] ▶ \(what)\(attempt > 1 ? " (attempt \(attempt))" : "")")
        case .attemptFinished(let step, let phase, let attempt, let result, let elapsed):
            let what = phase == .rollback ? "rollback of \(step)" : step
            let took = Self.seconds(result.duration).trimmingCharacters(in: .whitespaces)
            var verdict: String
            switch result.termination {
            case .exited(0) where !result.timedOut && !result.cancelled: verdict = "✔ \(what) succeeded"
            case .exited(let code): verdict = "✘ \(what) failed: exit \(code)"
            case .signaled(let signal): verdict = "✘ \(what) killed by signal \(signal)"
            case .launchFailed(let reason): verdict = "✘ \(what) \(reason)"
            }
            if result.timedOut { verdict = "✘ \(what) timed out" }
            if result.cancelled { verdict = "■ \(what) stopped" }
            line("[\(Self.seconds(elapsed))] \(verdict) (attempt \(attempt), \(took))")
            if !result.succeeded, !result.cancelled {
                let tail = (result.stderr.isEmpty ? result.stdout : result.stderr).split(separator: "\n").suffix(5)
                for output in tail { line("            | \(output)") }
            }
        case .retryScheduled(let step, _, let next, let delay):
            line("           ↻ \(step): attempt \(next) in \(delay.dslDescription)")
        case .stepSkipped(let step, let reason):
            line("           ⤼ \(step) skipped (\(reason))")
        case .stopping(let steps):
            line("           ■ stopping \(steps.joined(separator: ", "))")
        case .rollbackStarted(let steps):
            line("           ↺ rolling back: \(steps.joined(separator: " → "))")
        case .finished(let outcome, let elapsed):
            line("[\(Self.seconds(elapsed))] run \(outcome.rawValue)")
        }
    }

    public func summary(_ report: RunReport, audit: String) {
        line("")
        for step in report.steps {
            let attempts = step.attempts.count
            line(
                "  \(step.status.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0)) \(step.id)\(attempts > 1 ? " (\(attempts) attempts)" : "")"
            )
        }
        line(
            "outcome: \(report.outcome.rawValue)   run id: \(report.runID)   audit: \(audit) (medic audit show \(report.runID))"
        )
    }
}
