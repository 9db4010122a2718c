import ArgumentParser
import Foundation
import MedicCore
import MedicExecution
import MedicStore

/// The inputs `medic plan` and `medic run` share: which runbook, which alert, which params.
struct RunbookInput: ParsableArguments {
    @Argument(help: "A runbook file, or the id of a runbook in --runbooks.")
    var runbook: String

    @Option(help: "Directory to find a runbook id in.")
    var runbooks = "runbooks"

    @Option(help: "An alert payload file (Alertmanager v4, Grafana, or plain JSON).")
    var alert: String?

    @Option(help: "Which alert of the payload to use, when it holds several (0-based).")
    var alertIndex: Int?

    @Option(
        name: .customLong("param"), help: ArgumentHelp("Set a param: NAME=VALUE (repeatable).", valueName: "name=value")
    )
    var params: [String] = []

    func validate() throws {
        for param in params where !param.contains("=") || param.hasPrefix("=") {
            throw ValidationError("--param takes NAME=VALUE, got '\(param)'")
        }
        if let alertIndex, alertIndex < 0 { throw ValidationError("--alert-index must be 0 or more") }
    }

    var givenParams: [String: String] {
        var given: [String: String] = [:]
        for param in params {
            let parts = param.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            given[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        return given
    }

    /// The runbook file, or a runbook id looked up in `--runbooks`.
    func loadRunbook() throws -> (Runbook, RunbookSource) {
        let directory = RunbookDirectory()
        var isDirectory: ObjCBool = false
        let source: RunbookSource
        if FileManager.default.fileExists(atPath: runbook, isDirectory: &isDirectory), !isDirectory.boolValue {
            source = directory.check(file: runbook)
        } else {
            guard FileManager.default.fileExists(atPath: runbooks) else {
                throw ValidationError("'\(runbook)' is not a file, and --runbooks \(runbooks) does not exist")
            }
            let loaded = try directory.load([runbooks])
            guard let match = loaded.sources.first(where: { $0.runbook?.id == runbook }) else {
                let ids = loaded.sources.compactMap { $0.runbook?.id }
                let hint = Suggestion.closest(to: runbook, in: ids).map { "; did you mean '\($0)'?" } ?? ""
                throw ValidationError("no runbook file '\(runbook)' and no runbook with that id in \(runbooks)\(hint)")
            }
            source = match
        }
        guard let decoded = source.runbook else {
            var standardError = StandardError()
            for diagnostic in source.diagnostics {
                print(
                    DiagnosticRenderer.text(diagnostic, sourceMap: source.sourceMap), terminator: "", to: &standardError
                )
            }
            throw CommandFailure("runbook \(source.path) is invalid; fix the errors above")
        }
        return (decoded, source)
    }

    func loadAlert() throws -> Alert? {
        try loadAlertWithPayload()?.alert
    }

    /// The chosen alert and the raw payload it came in (whose digest goes into the audit log).
    func loadAlertWithPayload() throws -> (alert: Alert, payload: Data)? {
        guard let alert else { return nil }
        guard let data = FileManager.default.contents(atPath: alert) else {
            throw ValidationError("cannot read alert file \(alert)")
        }
        let alerts: [Alert]
        do {
            alerts = try AlertPayloadDecoder.decode(data)
        } catch {
            throw CommandFailure("\(alert): \(error)")
        }
        guard !alerts.isEmpty else { throw CommandFailure("\(alert): the payload holds no alerts") }
        let index = alertIndex ?? 0
        guard index < alerts.count else {
            throw ValidationError("--alert-index \(index) is out of range: \(alert) holds \(alerts.count) alerts")
        }
        if alerts.count > 1, alertIndex == nil {
            var standardError = StandardError()
            print(
                "medic: \(alert) holds \(alerts.count) alerts; using alert 0 (\(alerts[0].name)). Choose with --alert-index N.",
                to: &standardError)
        }
        return (alerts[index], data)
    }

    /// Prepares a run; `provenance` holds the digests of the runbook file and of the alert payload.
    func prepare(runID: String) throws -> (PreparedRun, RunbookSource, provenance: [String: JSONValue]) {
        let (runbook, source) = try loadRunbook()
        let loaded = try loadAlertWithPayload()
        var provenance: [String: JSONValue] = [
            "runbook_sha256": .string(Digest.sha256(source.data)), "runbook_file": .string(source.path),
        ]
        if let loaded {
            provenance["alert_payload_sha256"] = .string(Digest.sha256(loaded.payload))
            if let file = alert { provenance["alert_file"] = .string(file) }
            if let alertIndex { provenance["alert_index"] = JSONValue(alertIndex) }
        }
        switch PreparedRun.prepare(
            runbook, runID: runID, given: givenParams, alert: loaded?.alert,
            environment: ProcessInfo.processInfo.environment)
        {
        case .success(let prepared): return (prepared, source, provenance)
        case .failure(let problems):
            throw CommandFailure(
                "cannot start runbook '\(runbook.id)':\n  " + problems.messages.joined(separator: "\n  "))
        }
    }
}

/// A failure the command reports in one message and maps to exit code 1.
/// `--ssh-config FILE` must be readable, or every remote step would fail with ssh's own words (exit 64).
func checkSSHConfig(_ path: String?) throws {
    if let path, let problem = SSHSettings.configProblem(path) {
        throw ValidationError("--ssh-config: \(problem)")
    }
}

struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension ParsableCommand {
    /// Prints a `CommandFailure` as `medic: message` and exits 1; other errors go to ArgumentParser.
    static func reporting(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let failure as CommandFailure {
            var standardError = StandardError()
            print("medic: \(failure.description)", to: &standardError)
            throw ExitCode(1)
        }
    }
}
