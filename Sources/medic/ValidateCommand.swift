import ArgumentParser
import Foundation
import MedicCore
import MedicStore

/// `medic validate PATH...`: check runbook files or directories; exit 0 when there are no errors, 1 otherwise.
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check runbook files or directories (recursively *.yaml, *.yml).",
        discussion: """
            Every problem is reported in one pass as `file:line:col: error: message [id]`, with the source line \
            and a caret. Exit status: 0 when no errors (warnings allowed), 1 when any error, 64 on usage errors.
            """
    )

    @Argument(help: "Runbook files or directories.")
    var paths: [String]

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    @Flag(help: "Treat warnings as errors.")
    var strict = false

    @Flag(name: .shortAndLong, help: "Print only errors, not warnings.")
    var quiet = false

    func run() throws {
        let loaded: RunbookDirectory.Loaded
        do {
            loaded = try RunbookDirectory().load(paths)
        } catch {
            throw ValidationError(error.description)
        }
        let diagnostics = quiet ? loaded.diagnostics.filter { $0.severity == .error } : loaded.diagnostics
        let failed = loaded.diagnostics.hasErrors || (strict && loaded.diagnostics.warningCount > 0)
        switch format {
        case .json:
            print(DiagnosticRenderer.json(diagnostics, files: loaded.fileCount))
        case .text:
            let maps = Dictionary(
                loaded.sources.map { ($0.path, $0.sourceMap) }, uniquingKeysWith: { first, _ in first })
            var standardError = StandardError()
            for diagnostic in diagnostics {
                print(
                    DiagnosticRenderer.text(diagnostic, sourceMap: diagnostic.file.flatMap { maps[$0] }),
                    terminator: "", to: &standardError)
            }
            let summary = DiagnosticRenderer.summary(loaded.diagnostics, files: loaded.fileCount)
            if failed {
                print("medic: \(summary)", to: &standardError)
            } else {
                print("ok: \(loaded.runbooks.count) runbook\(loaded.runbooks.count == 1 ? "" : "s") valid (\(summary))")
            }
        }
        if failed { throw ExitCode(1) }
    }
}

/// Standard error as a `TextOutputStream`.
struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandle.standardError.write(Data(string.utf8))
    }
}
