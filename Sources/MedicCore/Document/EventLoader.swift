import CYaml
import Foundation

/// Builds `DocumentNode`s straight from libyaml's events (libyaml ships inside Yams as `CYaml`).
///
/// Going through Yams' `Node` tree cost a tree that is thrown away, plus Yams' duplicate-key check, which
/// hashes every key with its resolved tag: together more than the parsing itself. This loader keeps Yams'
/// semantics that Medic relies on (single document, anchors and aliases, `<<` merges, duplicate keys as
/// an error, libyaml's own error messages and marks) and counts nodes as it goes, aliases at every use.
struct EventLoader {
    /// Why loading stopped; turned into one diagnostic by the caller.
    enum Failure: Error {
        /// A libyaml reader, scanner or parser error, or one of the composer's (undefined alias, ...).
        case yaml(problem: String, context: (text: String, mark: SourceLocation)?, mark: SourceLocation)
        /// Invalid input bytes at a byte offset.
        case reader(problem: String, byteOffset: Int, value: Int32)
        case duplicateKeys([String], at: SourceLocation)
        case multipleDocuments(at: SourceLocation)
        case tooManyNodes(limit: Int, at: SourceLocation)
        case memory
    }

    let maxNodes: Int
    private(set) var count = 0
    private(set) var diagnostics: [Diagnostic] = []
    private var anchors: [String: (node: DocumentNode, nodes: Int)] = [:]
    private var parser = yaml_parser_t()
    private var event = yaml_event_t()

    init(maxNodes: Int) {
        self.maxNodes = maxNodes
    }

    /// The document's root, nil for an empty stream.
    static func load(_ text: String, maxNodes: Int) -> Result<(DocumentNode?, [Diagnostic]), Failure> {
        var text = text
        text.makeContiguousUTF8()
        return text.utf8.withContiguousStorageIfAvailable { buffer in
            var loader = EventLoader(maxNodes: maxNodes)
            guard yaml_parser_initialize(&loader.parser) == 1 else { return .failure(.memory) }
            defer { yaml_parser_delete(&loader.parser) }
            yaml_parser_set_encoding(&loader.parser, YAML_UTF8_ENCODING)
            yaml_parser_set_input_string(&loader.parser, buffer.baseAddress, buffer.count)
            defer { yaml_event_delete(&loader.event) }
            do {
                let root = try loader.document()
                return .success((root, loader.diagnostics))
            } catch let failure as Failure {
                return .failure(failure)
            } catch {
                return .failure(.memory)
            }
        } ?? .failure(.memory)
    }

    // MARK: Events

    private static func mark(_ mark: yaml_mark_t) -> SourceLocation {
        SourceLocation(line: mark.line + 1, column: mark.column + 1)
    }

    /// The next event's type and start mark; its data stays in `event` until the next call.
    private mutating func next() throws -> yaml_event_type_t {
        yaml_event_delete(&event)
        guard yaml_parser_parse(&parser, &event) == 1 else { throw error() }
        return event.type
    }

    private func error() -> Failure {
        func text(_ pointer: UnsafePointer<CChar>?) -> String { pointer.map { String(cString: $0) } ?? "" }
        switch parser.error {
        case YAML_MEMORY_ERROR:
            return .memory
        case YAML_READER_ERROR:
            return .reader(
                problem: text(parser.problem), byteOffset: parser.problem_offset, value: parser.problem_value)
        default:
            let context = parser.context.map { (String(cString: $0), Self.mark(parser.context_mark)) }
            return .yaml(problem: text(parser.problem), context: context, mark: Self.mark(parser.problem_mark))
        }
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?, length: Int) -> String {
        guard let pointer else { return "" }
        return String(decoding: UnsafeBufferPointer(start: pointer, count: length), as: UTF8.self)
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        guard let pointer else { return nil }
        return String(cString: pointer)
    }

    // MARK: Building

    private mutating func document() throws -> DocumentNode? {
        _ = try next()  // STREAM-START
        guard try next() == YAML_DOCUMENT_START_EVENT else { return nil }  // an empty stream
        let root = try node(try next())
        _ = try next()  // DOCUMENT-END
        let after = try next()
        if after != YAML_STREAM_END_EVENT {
            throw Failure.multipleDocuments(at: Self.mark(event.start_mark))
        }
        yaml_event_delete(&event)
        return root
    }

    private mutating func counted(_ location: SourceLocation, nodes: Int = 1) throws {
        count += nodes
        if count > maxNodes { throw Failure.tooManyNodes(limit: maxNodes, at: location) }
    }

    private mutating func node(_ type: yaml_event_type_t) throws -> DocumentNode {
        let location = Self.mark(event.start_mark)
        switch type {
        case YAML_ALIAS_EVENT:
            let name = Self.string(event.data.alias.anchor) ?? ""
            guard let anchored = anchors[name] else {
                throw Failure.yaml(problem: "found undefined alias", context: nil, mark: location)
            }
            try counted(location, nodes: anchored.nodes)
            return anchored.node
        case YAML_SCALAR_EVENT:
            try counted(location)
            let scalar = event.data.scalar
            let text = Self.string(scalar.value, length: scalar.length)
            let rawTag = Self.string(scalar.tag)
            let style: DocumentNode.ScalarStyle
            switch scalar.style {
            case YAML_SINGLE_QUOTED_SCALAR_STYLE: style = .singleQuoted
            case YAML_DOUBLE_QUOTED_SCALAR_STYLE: style = .doubleQuoted
            case YAML_LITERAL_SCALAR_STYLE: style = .literal
            case YAML_FOLDED_SCALAR_STYLE: style = .folded
            default: style = .plain
            }
            var located = location
            if style == .plain || style == .singleQuoted || style == .doubleQuoted,
                !text.utf8.contains(UInt8(ascii: "\n"))
            {
                located.length = text.unicodeScalars.count + (style == .plain ? 0 : 2)
            }
            let tag = rawTag.flatMap { $0.isEmpty || $0 == "!" ? nil : $0 }
            let built = DocumentNode(.scalar(.init(text: text, style: style, tag: tag)), at: located)
            if let anchor = Self.string(scalar.anchor) { anchors[anchor] = (built, 1) }
            return built
        case YAML_SEQUENCE_START_EVENT:
            try counted(location)
            let anchor = Self.string(event.data.sequence_start.anchor)
            let before = count
            var items: [DocumentNode] = []
            while true {
                let type = try next()
                if type == YAML_SEQUENCE_END_EVENT { break }
                items.append(try node(type))
            }
            let built = DocumentNode(.sequence(items), at: location)
            if let anchor { anchors[anchor] = (built, count - before + 1) }
            return built
        case YAML_MAPPING_START_EVENT:
            try counted(location)
            let anchor = Self.string(event.data.mapping_start.anchor)
            let before = count
            var pairs: [(key: DocumentNode, value: DocumentNode)] = []
            while true {
                let type = try next()
                if type == YAML_MAPPING_END_EVENT { break }
                let key = try node(type)
                let value = try node(try next())
                pairs.append((key, value))
            }
            try checkDuplicates(pairs.map(\.key))
            let built = DocumentNode(.mapping(merged(pairs)), at: location)
            if let anchor { anchors[anchor] = (built, count - before + 1) }
            return built
        default:
            throw Failure.yaml(problem: "unexpected event", context: nil, mark: location)
        }
    }

    /// Yams' rule: two keys are the same when their text and (resolved) tag are; the first mapping to finish
    /// with duplicates stops the load, reported at the first occurrence of the smallest duplicated key.
    private func checkDuplicates(_ keys: [DocumentNode]) throws {
        guard keys.count > 1 else { return }
        var first: [String: (text: String, location: SourceLocation)] = [:]
        var duplicated: Set<String> = []
        for key in keys {
            let identity = Self.identity(key)
            if first[identity] == nil {
                first[identity] = (key.scalar?.text ?? identity, key.location)
            } else {
                duplicated.insert(identity)
            }
        }
        guard !duplicated.isEmpty else { return }
        let names = duplicated.compactMap { first[$0] }.sorted { $0.text < $1.text }
        throw Failure.duplicateKeys(names.map(\.text), at: names[0].location)
    }

    private static func identity(_ node: DocumentNode) -> String {
        switch node.kind {
        case .scalar(let scalar): return (scalar.tag ?? "str") + "\u{0}" + scalar.text
        case .sequence(let items): return "[" + items.map(identity).joined(separator: "\u{1}") + "]"
        case .mapping(let entries):
            return "{" + entries.map { identity($0.key) + ":" + identity($0.value) }.joined(separator: "\u{1}") + "}"
        }
    }

    /// Applies `<<` merges: keys written in the mapping win over merged ones; earlier sources over later ones.
    private mutating func merged(_ pairs: [(key: DocumentNode, value: DocumentNode)]) -> [DocumentNode.Entry] {
        var entries: [DocumentNode.Entry] = []
        var mergedEntries: [DocumentNode.Entry] = []
        for (key, value) in pairs {
            if let scalar = key.scalar, scalar.text == "<<", scalar.style == .plain {
                mergedEntries.append(contentsOf: mergeSources(value))
                continue
            }
            entries.append(DocumentNode.Entry(key: key, value: value))
        }
        guard !mergedEntries.isEmpty else { return entries }
        var seen = Set(entries.compactMap(\.name))
        for entry in mergedEntries {
            guard let name = entry.name, !seen.contains(name) else { continue }
            seen.insert(name)
            entries.append(entry)
        }
        return entries
    }

    private mutating func mergeSources(_ value: DocumentNode) -> [DocumentNode.Entry] {
        switch value.kind {
        case .mapping(let entries):
            return entries
        case .sequence(let items):
            var all: [DocumentNode.Entry] = []
            for item in items {
                if let entries = item.mapping {
                    all.append(contentsOf: entries)
                } else {
                    diagnostics.append(Diagnostic(.badMerge, at: .location(item.location)))
                }
            }
            return all
        case .scalar:
            diagnostics.append(Diagnostic(.badMerge, at: .location(value.location)))
            return []
        }
    }
}
