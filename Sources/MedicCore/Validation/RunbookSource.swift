import Foundation

/// One runbook file taken through the whole pipeline: load the YAML, decode, validate, and locate every problem.
public struct RunbookSource: Sendable {
    /// The path as the user gave it (used in diagnostics).
    public var path: String
    /// The decoded runbook, present when the file has no errors (warnings allowed).
    public var runbook: Runbook?
    /// Every problem found, with `file` and `location` filled in.
    public var diagnostics: [Diagnostic]
    /// For printing the offending line under a diagnostic.
    public var sourceMap: SourceMap
    /// The file's bytes as read (its digest identifies the runbook version in the audit log).
    public var data: Data

    public var hasErrors: Bool { diagnostics.hasErrors }

    /// Checks one file's contents. Never throws and never crashes on hostile input; problems become diagnostics.
    public static func check(data: Data, path: String, loader: DocumentLoader = DocumentLoader()) -> RunbookSource {
        let loaded = loader.load(data: data)
        let text =
            loaded.root == nil && data.count > loader.limits.maxBytes ? "" : String(decoding: data, as: UTF8.self)
        let sourceMap = SourceMap(root: loaded.root, text: text)
        var diagnostics = loaded.diagnostics
        var runbook: Runbook?
        if let root = loaded.root {
            let (decoded, decodeDiagnostics) = RunbookDecoder.decode(root)
            diagnostics += decodeDiagnostics
            if let decoded {
                diagnostics += RunbookValidator.validate(decoded)
                runbook = decoded
            }
        }
        diagnostics = sourceMap.resolve(diagnostics).map { diagnostic in
            var located = diagnostic
            located.file = path
            return located
        }
        let hasErrors = diagnostics.hasErrors
        return RunbookSource(
            path: path, runbook: hasErrors ? nil : runbook, diagnostics: Self.deduplicated(diagnostics),
            sourceMap: sourceMap, data: data)
    }

    /// The same problem reached twice (for example one bad reference in two templates of one argument) is shown once.
    private static func deduplicated(_ diagnostics: [Diagnostic]) -> [Diagnostic] {
        var seen: Set<String> = []
        return diagnostics.filter { diagnostic in
            let key =
                "\(diagnostic.location?.line ?? 0):\(diagnostic.location?.column ?? 0):\(diagnostic.id):\(diagnostic.text)"
            return seen.insert(key).inserted
        }
    }
}

/// Checks that span several runbooks, such as ids that must be unique within a directory.
public enum RunbookCatalog {
    /// A diagnostic on every runbook whose id was already used by an earlier file.
    public static func duplicateIDs(in sources: [RunbookSource], rootKeys: Bool = true) -> [Diagnostic] {
        var firstFile: [String: String] = [:]
        var diagnostics: [Diagnostic] = []
        for source in sources {
            guard let id = source.runbook?.id else { continue }
            if let first = firstFile[id] {
                var diagnostic = Diagnostic(
                    .init(id: "duplicate-runbook-id", "runbook id '\(id)' is already used by \(first)"),
                    at: .value(.root / "runbook"), file: source.path)
                diagnostic.location = source.sourceMap.location(of: .root / "runbook")
                diagnostics.append(diagnostic)
            } else {
                firstFile[id] = source.path
            }
        }
        return diagnostics
    }
}
