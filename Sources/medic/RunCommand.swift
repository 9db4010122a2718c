import ArgumentParser
import Dispatch
import Foundation
import MedicCore
import MedicExecution
import MedicStore

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

    @Option(help: "ssh_config file for remote targets (ssh -F FILE); default: the user's own.")
    var sshConfig: String?

    @Option(help: "Most steps to run at once.")
    var maxParallel = 4

    func validate() throws {
        if maxParallel < 1 { throw ValidationError("--max-parallel must be at least 1") }
        try checkSSHConfig(sshConfig)
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
                runner: SubprocessRunner(ssh: SSHSettings(configFile: sshConfig)), audit: audit,
                maxParallel: maxParallel, initiator: "operator:\(ProcessInfo.processInfo.userName)")
            let cancel = StopSignal()
            let interrupts = InterruptHandler(cancel: cancel)
            defer { interrupts.restore() }
            // On a terminal, a status line under the event lines shows what is running and for how long.
            let live = format == .text && isatty(STDOUT_FILENO) == 1 ? LiveStatus() : nil
            let toStandardError = format == .json
            let printer = ProgressPrinter(live: live) { text in
                // Unbuffered, so progress shows up at once even when stdout is a pipe.
                (toStandardError ? FileHandle.standardError : FileHandle.standardOutput).write(Data((text + "\n").utf8))
            }
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
            if !prepared.targets.isEmpty {
                await SSHTransport.closeConnections(SSHSettings(configFile: sshConfig))
            }
            switch format {
            case .json: print(report.json.rendered())
            case .text: printer.summary(report, audit: location.display)
            }
            for line in report.killsUnconfirmed {
                // Someone must look at that host: said on stderr whatever the format.
                FileHandle.standardError.write(Data("medic: kill unconfirmed: \(line)\n".utf8))
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
