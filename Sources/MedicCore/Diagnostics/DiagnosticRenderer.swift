import Foundation

/// Prints diagnostics for people (`file:line:col: error: message [id]`, the source line, a caret) and for
/// tools (JSON).
public enum DiagnosticRenderer {
    /// The text form: header line, then the offending source line and a caret under the problem.
    public static func text(_ diagnostic: Diagnostic, sourceMap: SourceMap?) -> String {
        let file = diagnostic.file ?? "<input>"
        let location = diagnostic.location ?? SourceLocation(line: 1, column: 1)
        var output =
            "\(file):\(location.line):\(location.column): \(diagnostic.severity.rawValue): \(diagnostic.text) [\(diagnostic.id)]\n"
        guard let line = sourceMap?.line(location.line), !line.isEmpty, line.unicodeScalars.count < 500 else {
            return output
        }
        output += "\(line)\n"
        // Keep tabs so the caret lines up under tab-indented text.
        var caret = ""
        for (index, scalar) in line.unicodeScalars.enumerated() where index < location.column - 1 {
            caret += scalar == "\t" ? "\t" : " "
        }
        let available = max(1, line.unicodeScalars.count - (location.column - 1))
        caret += "^" + String(repeating: "~", count: max(0, min(location.length, available) - 1))
        output += caret + "\n"
        return output
    }

    /// A one-line summary: `2 errors, 1 warning in 3 files`.
    public static func summary(_ diagnostics: [Diagnostic], files: Int) -> String {
        func plural(_ count: Int, _ word: String) -> String { "\(count) \(word)\(count == 1 ? "" : "s")" }
        return
            "\(plural(diagnostics.errorCount, "error")), \(plural(diagnostics.warningCount, "warning")) in \(plural(files, "file"))"
    }

    /// The JSON report of `medic validate --format json`.
    public struct Report: Codable, Sendable, Equatable {
        public struct Entry: Codable, Sendable, Equatable {
            public var file: String
            public var line: Int
            public var column: Int
            public var severity: String
            public var id: String
            public var message: String
            /// The document path of the offending node, when known (`steps[2].retry.attempts`).
            public var path: String?
        }

        public var files: Int
        public var errors: Int
        public var warnings: Int
        public var diagnostics: [Entry]
    }

    public static func report(_ diagnostics: [Diagnostic], files: Int) -> Report {
        Report(
            files: files, errors: diagnostics.errorCount, warnings: diagnostics.warningCount,
            diagnostics: diagnostics.map { diagnostic in
                Report.Entry(
                    file: diagnostic.file ?? "<input>", line: diagnostic.location?.line ?? 1,
                    column: diagnostic.location?.column ?? 1, severity: diagnostic.severity.rawValue, id: diagnostic.id,
                    message: diagnostic.text, path: diagnostic.path.map(\.description))
            })
    }

    public static func json(_ diagnostics: [Diagnostic], files: Int) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(report(diagnostics, files: files))) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
