import ArgumentParser
import Dispatch
import Foundation
import MedicCore
import MedicExecution
import MedicStore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `medic run RUNBOOK`: run it now as an operator, with live progress; Ctrl-C cancels cleanly.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a runbook now, as an operator, with live progress. Exit 0 when it succeeded, 1 otherwise.",
        discussion: """
            Ctrl-C stops the run cleanly: running steps are torn down (their whole process group), the steps that \
            succeeded are rolled back, and the run is recorded as cancelled.
            """
    )

    @OptionGroup var input: RunbookInput

    @Option(help: "Output format: text (progress and a summary) or json (the run report; progress goes to stderr).")
    var format: OutputFormat = .text

    @OptionGroup var location: AuditLocation

    @Option(help: "Also append every event to this JSON Lines file.")
    var events: String?

    @Option(help: "Most steps to run at once.")
    var maxParallel = 4

    func validate() throws {
        if maxParallel < 1 { throw ValidationError("--max-parallel must be at least 1") }
    }

    func run() async throws {
        try await Self.reporting {
            let runID = PreparedRun.newRunID()
            let (prepared, source, provenance) = try input.prepare(runID: runID)
            var logs: [any AuditLog] = [try await location.open(create: true)]
            if let events {
                do {
                    logs.append(try JSONLinesAuditLog(path: events))
                } catch {
                    throw CommandFailure("cannot open the event log \(events): \(error)")
                }
            }
            let audit = logs.count == 1 ? logs[0] : CompositeAuditLog(logs)
            let executor = Executor(
                audit: audit, maxParallel: maxParallel, initiator: "operator:\(ProcessInfo.processInfo.userName)")
            let cancel = StopSignal()
            let interrupts = InterruptHandler(cancel: cancel)
            defer { interrupts.restore() }
            // On a terminal, a status line under the event lines shows what is running and for how long.
            let live = format == .text && isatty(STDOUT_FILENO) == 1 ? LiveStatus() : nil
            let printer = ProgressPrinter(toStandardError: format == .json, redactor: prepared.redactor, live: live)
            printer.header(prepared, source: source.path)
            let report: RunReport = await withTaskGroup(of: RunReport?.self) { group in
                if let live {
                    group.addTask {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: .milliseconds(250))
                            live.redraw()
                        }
                        return nil
                    }
                }
                group.addTask {
                    do {
                        return try await executor.run(prepared, cancel: cancel, provenance: provenance) {
                            printer.show($0)
                        }
                    } catch let failure as Executor.AuditFailure {
                        printer.line("medic: \(failure.description); the run was stopped")
                        return failure.report
                    } catch {
                        return nil
                    }
                }
                var result: RunReport?
                for await value in group where value != nil {
                    result = value
                    group.cancelAll()
                }
                live?.clear()
                return result!
            }
            switch format {
            case .json: print(report.json.rendered())
            case .text: printer.summary(report, audit: location.path)
            }
            if report.outcome != .succeeded { throw ExitCode(1) }
        }
    }
}

/// Turns SIGINT/SIGTERM into a clean cancel of the run (the first one); later ones only remind.
final class InterruptHandler: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private let queue = DispatchQueue(label: "medic.signals")
    private var count = 0

    init(cancel: StopSignal) {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler { [weak self] in
                guard let self else { return }
                self.count += 1
                var standardError = StandardError()
                if self.count == 1 {
                    print("\nmedic: stopping: tearing down running steps, then rolling back", to: &standardError)
                    cancel.trigger()
                } else {
                    print("medic: still stopping (rollback in progress); waiting for it to finish", to: &standardError)
                }
            }
            source.resume()
            sources.append(source)
        }
    }

    func restore() {
        for source in sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}

/// Prints live progress: one plain line per event, with the elapsed time of the run.
struct ProgressPrinter: Sendable {
    var toStandardError: Bool
    var redactor: Redactor
    var live: LiveStatus?

    func line(_ text: String) {
        if let live {
            live.print(text)
            return
        }
        if toStandardError {
            var standardError = StandardError()
            print(text, to: &standardError)
        } else {
            // Unbuffered, so progress shows up at once even when stdout is a pipe.
            FileHandle.standardOutput.write(Data((text + "\n").utf8))
        }
    }

    static func seconds(_ duration: Duration) -> String {
        String(format: "%7.2fs", Double(duration.milliseconds) / 1000)
    }

    func header(_ prepared: PreparedRun, source: String) {
        line(
            "run \(prepared.context.runID): runbook \(prepared.runbook.id) (\(source)), \(prepared.runbook.steps.count) steps"
        )
    }

    func show(_ progress: Executor.Progress) {
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

    func summary(_ report: RunReport, audit: String) {
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

/// The terminal's status line: which steps are running, at which attempt, for how long. Event lines are
/// printed above it.
final class LiveStatus: Sendable {
    private struct State {
        var running: [String: (attempt: Int, since: ContinuousClock.Instant)] = [:]
        var order: [String] = []
        var drawn = false
    }

    private let state = Mutex(State())

    func update(_ progress: Executor.Progress) {
        state.withLock { state in
            switch progress {
            case .attemptStarted(let step, let phase, let attempt, _):
                let key = phase == .rollback ? "rollback of \(step)" : step
                state.running[key] = (attempt, ContinuousClock.now)
                state.order.append(key)
            case .attemptFinished(let step, let phase, _, _, _):
                let key = phase == .rollback ? "rollback of \(step)" : step
                state.running[key] = nil
                state.order.removeAll { $0 == key }
            default:
                break
            }
        }
        redraw()
    }

    private static func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// Prints an event line above the status line.
    func print(_ text: String) {
        state.withLock { state in
            Self.write("\r\u{1B}[K" + text + "\n" + Self.status(state))
            state.drawn = true
        }
    }

    func redraw() {
        state.withLock { state in
            Self.write("\r\u{1B}[K" + Self.status(state))
            state.drawn = true
        }
    }

    func clear() {
        state.withLock { state in
            if state.drawn { Self.write("\r\u{1B}[K") }
            state.drawn = false
        }
    }

    private static func status(_ state: State) -> String {
        guard !state.order.isEmpty else { return "" }
        let now = ContinuousClock.now
        let parts = state.order.compactMap { key -> String? in
            guard let entry = state.running[key] else { return nil }
            let seconds = Double((now - entry.since).milliseconds) / 1000
            return "\(key)" + (entry.attempt > 1 ? " #\(entry.attempt)" : "") + String(format: " %.1fs", seconds)
        }
        return "\u{1B}[2m… running: " + parts.joined(separator: ", ") + "\u{1B}[0m"
    }
}
