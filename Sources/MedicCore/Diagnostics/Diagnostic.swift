/// One problem found in a runbook: where it is, how serious, a stable id and a message.
public struct Diagnostic: Sendable, Hashable {
    /// What points at the problem: a resolved location, or a document path resolved later by a `SourceMap`.
    public enum Anchor: Sendable, Hashable {
        /// The value at this path.
        case value(DocumentPath)
        /// The key that introduces this path (for unknown or duplicated keys).
        case key(DocumentPath)
        /// A known position (YAML syntax errors, limits).
        case location(SourceLocation)
        /// The file as a whole.
        case file
    }

    public var message: DiagnosticMessage
    public var anchor: Anchor
    /// The file the runbook came from, when it came from a file.
    public var file: String?
    /// Filled in by `SourceMap.resolve` (or directly for `.location`).
    public var location: SourceLocation?
    /// For a problem inside a one-line scalar (a `when` expression, a template): how many characters into the
    /// scalar's text it is, and how long. `SourceMap.resolve` turns this into a precise column.
    public var span: (offset: Int, length: Int)? {
        get { spanStorage.map { ($0[0], $0[1]) } }
        set { spanStorage = newValue.map { [$0.offset, $0.length] } }
    }
    private var spanStorage: [Int]?

    public init(_ message: DiagnosticMessage, at anchor: Anchor, file: String? = nil) {
        self.message = message
        self.anchor = anchor
        self.file = file
        if case .location(let location) = anchor {
            self.location = location
        }
    }

    public var severity: Severity { message.severity }
    public var id: String { message.id }
    public var text: String { message.text }

    /// The document path this diagnostic refers to, if any.
    public var path: DocumentPath? {
        switch anchor {
        case .value(let path), .key(let path): path
        case .location, .file: nil
        }
    }
}

extension Array where Element == Diagnostic {
    public var hasErrors: Bool { contains { $0.severity == .error } }
    public var errorCount: Int { count { $0.severity == .error } }
    public var warningCount: Int { count { $0.severity == .warning } }

    /// Diagnostics in reading order: by file, then line, then column.
    public func sortedForDisplay() -> [Diagnostic] {
        enumerated().sorted { a, b in
            let (fa, fb) = (a.element.file ?? "", b.element.file ?? "")
            if fa != fb { return fa < fb }
            let la = a.element.location ?? SourceLocation(line: 0, column: 0)
            let lb = b.element.location ?? SourceLocation(line: 0, column: 0)
            if la != lb { return la < lb }
            return a.offset < b.offset
        }.map(\.element)
    }
}
