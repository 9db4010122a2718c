/// Maps document paths to source positions, so diagnostics can name a path and still print a line and column.
public struct SourceMap: Sendable {
    private struct Entry: Sendable {
        var key: SourceLocation?
        var value: SourceLocation
        /// Column of the first character of a one-line plain or quoted scalar's text.
        var inlineTextColumn: Int?
    }

    private var entries: [DocumentPath: Entry] = [:]
    /// The source text's lines, for printing the offending line under a diagnostic.
    public let lines: [Substring]

    public init(root: DocumentNode?, text: String) {
        lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? $0.dropLast() : $0
        }
        if let root {
            record(root, key: nil, at: .root)
        }
    }

    private mutating func record(_ node: DocumentNode, key: SourceLocation?, at path: DocumentPath) {
        var inlineTextColumn: Int?
        if let scalar = node.scalar, !scalar.text.contains("\n") {
            switch scalar.style {
            case .plain: inlineTextColumn = node.location.column
            case .singleQuoted, .doubleQuoted: inlineTextColumn = node.location.column + 1
            case .literal, .folded: inlineTextColumn = nil
            }
        }
        entries[path] = Entry(key: key, value: node.location, inlineTextColumn: inlineTextColumn)
        switch node.kind {
        case .scalar:
            break
        case .sequence(let items):
            for (index, item) in items.enumerated() {
                record(item, key: nil, at: path / index)
            }
        case .mapping(let pairs):
            for pair in pairs {
                guard let name = pair.name else { continue }
                // The first occurrence wins, as it does when decoding.
                if entries[path / name] == nil {
                    record(pair.value, key: pair.key.location, at: path / name)
                }
            }
        }
    }

    /// The position of the value at `path`, or of its nearest recorded ancestor.
    public func location(of path: DocumentPath, key: Bool = false) -> SourceLocation? {
        var components = path.components
        while true {
            if let entry = entries[DocumentPath(components)] {
                if key, components.count == path.components.count, let keyLocation = entry.key {
                    return keyLocation
                }
                return entry.value
            }
            if components.isEmpty { return nil }
            components.removeLast()
        }
    }

    /// Fills in `location` of every diagnostic that points at a path.
    public func resolve(_ diagnostics: [Diagnostic]) -> [Diagnostic] {
        diagnostics.map { diagnostic in
            var resolved = diagnostic
            switch diagnostic.anchor {
            case .value(let path):
                if resolved.location == nil, let span = diagnostic.span, let entry = entries[path],
                    let column = entry.inlineTextColumn
                {
                    resolved.location = SourceLocation(line: entry.value.line, column: column + span.offset, length: span.length)
                }
                resolved.location = resolved.location ?? location(of: path)
            case .key(let path): resolved.location = resolved.location ?? location(of: path, key: true)
            case .location(let location): resolved.location = location
            case .file: resolved.location = resolved.location ?? SourceLocation(line: 1, column: 1)
            }
            return resolved
        }
    }

    /// The text of a 1-based line, if it exists.
    public func line(_ number: Int) -> Substring? {
        guard number >= 1, number <= lines.count else { return nil }
        return lines[number - 1]
    }
}
