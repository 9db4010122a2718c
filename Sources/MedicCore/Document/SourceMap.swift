/// Maps document paths to source positions, so diagnostics can name a path and still print a line and column.
///
/// Nothing is indexed up front: most files have no diagnostics, so a lookup walks the tree on demand.
public struct SourceMap: Sendable {
    private let root: DocumentNode?
    private let text: String

    public init(root: DocumentNode?, text: String) {
        self.root = root
        self.text = text
    }

    /// The node at `path`, the key node that introduces it (for mapping values), and how far the walk got.
    private func walk(_ path: DocumentPath) -> (node: DocumentNode, key: DocumentNode?, depth: Int)? {
        guard var node = root else { return nil }
        var key: DocumentNode?
        var depth = 0
        for component in path.components {
            switch (component, node.kind) {
            case (.key(let name), .mapping(let entries)):
                guard let entry = entries.first(where: { $0.name == name }) else { return (node, key, depth) }
                key = entry.key
                node = entry.value
            case (.index(let index), .sequence(let items)) where items.indices.contains(index):
                key = nil
                node = items[index]
            default:
                return (node, key, depth)
            }
            depth += 1
        }
        return (node, key, depth)
    }

    /// The position of the value at `path` (or of its key), or of its nearest existing ancestor.
    public func location(of path: DocumentPath, key: Bool = false) -> SourceLocation? {
        guard let found = walk(path) else { return nil }
        if key, found.depth == path.components.count, let keyNode = found.key {
            return keyNode.location
        }
        return found.node.location
    }

    /// Column of the first character of a one-line plain or quoted scalar's text at `path`.
    private func inlineTextLocation(of path: DocumentPath) -> SourceLocation? {
        guard let found = walk(path), found.depth == path.components.count, let scalar = found.node.scalar,
            !scalar.text.utf8.contains(UInt8(ascii: "\n"))
        else { return nil }
        let location = found.node.location
        switch scalar.style {
        case .plain: return location
        case .singleQuoted, .doubleQuoted: return SourceLocation(line: location.line, column: location.column + 1)
        case .literal, .folded: return nil
        }
    }

    /// Fills in `location` of every diagnostic that points at a path.
    public func resolve(_ diagnostics: [Diagnostic]) -> [Diagnostic] {
        diagnostics.map { diagnostic in
            var resolved = diagnostic
            switch diagnostic.anchor {
            case .value(let path):
                if resolved.location == nil, let span = diagnostic.span, let start = inlineTextLocation(of: path) {
                    resolved.location = SourceLocation(
                        line: start.line, column: start.column + span.offset, length: span.length)
                }
                resolved.location = resolved.location ?? location(of: path)
            case .key(let path): resolved.location = resolved.location ?? location(of: path, key: true)
            case .location(let location): resolved.location = location
            case .file: resolved.location = resolved.location ?? SourceLocation(line: 1, column: 1)
            }
            return resolved
        }
    }

    /// The text of a 1-based line (without its line break, `\n` or `\r\n`), if it exists.
    public func line(_ number: Int) -> Substring? {
        guard number >= 1 else { return nil }
        // Work on bytes: as Characters, "\r\n" is one grapheme and would not match "\n".
        let bytes = text.utf8
        var start = bytes.startIndex
        var current = 1
        while current < number {
            guard let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) else { return nil }
            start = bytes.index(after: newline)
            current += 1
        }
        var end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
        if end > start, bytes[bytes.index(before: end)] == UInt8(ascii: "\r") { end = bytes.index(before: end) }
        return text[start..<end]
    }
}
