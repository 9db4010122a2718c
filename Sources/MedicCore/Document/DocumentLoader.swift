import Foundation
import Yams

/// Turns YAML text into a `DocumentNode` tree, or into diagnostics, within fixed limits.
///
/// Limits protect every caller (the CLI, the server's reload) from hostile or broken files: a size cap,
/// libyaml's own nesting cap (1,000 levels), a cap on nodes after alias expansion ("billion laughs"),
/// and a refusal of aliases used as mapping keys (hashing them is what makes such bombs hang).
public struct DocumentLoader: Sendable {
    public struct Limits: Sendable {
        /// Largest accepted text, in UTF-8 bytes.
        public var maxBytes: Int = 1 << 20
        /// Most nodes a document may expand to, aliases counted at every use.
        public var maxNodes: Int = 200_000

        public init() {}
    }

    public var limits: Limits

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// The loaded tree (nil when the text could not be read) and every problem found on the way.
    public struct Result: Sendable {
        public var root: DocumentNode?
        public var diagnostics: [Diagnostic]
    }

    /// Loads raw bytes: checks size and encoding before any parsing.
    public func load(data: Data) -> Result {
        if data.count > limits.maxBytes {
            return Result(
                root: nil,
                diagnostics: [Diagnostic(.fileTooLarge(bytes: data.count, limit: limits.maxBytes), at: .file)])
        }
        guard let text = String(validatingUTF8Data: data) else {
            return Result(root: nil, diagnostics: [Diagnostic(.notUTF8, at: .file)])
        }
        return load(text: text)
    }

    public func load(text: String) -> Result {
        let byteCount = text.utf8.count
        if byteCount > limits.maxBytes {
            return Result(
                root: nil, diagnostics: [Diagnostic(.fileTooLarge(bytes: byteCount, limit: limits.maxBytes), at: .file)]
            )
        }
        if let location = AliasKeyScan.firstAliasKey(in: text) {
            return Result(root: nil, diagnostics: [Diagnostic(.aliasAsKey, at: .location(location))])
        }
        let node: Yams.Node?
        do {
            // Medic types scalars itself, so Yams' regex-based tag resolution (also run for every key when it
            // checks duplicates) is skipped: `.basic` resolves everything to a string.
            let parser = try Parser(yaml: text, resolver: .basic, encoding: .utf8)
            node = try parser.singleRoot()
        } catch let error as YamlError {
            return Result(root: nil, diagnostics: [Self.diagnostic(for: error, in: text)])
        } catch {
            return Result(root: nil, diagnostics: [Diagnostic(.yamlSyntax("\(error)"), at: .file)])
        }
        guard let node, !(node.scalar.map { DocumentNode.Scalar(text: $0.string, style: .plain).isNull } ?? false)
        else {
            return Result(root: nil, diagnostics: [Diagnostic(.emptyDocument, at: .file)])
        }
        var converter = Converter(maxNodes: limits.maxNodes)
        let root = converter.convert(node)
        if converter.exceeded {
            return Result(
                root: nil,
                diagnostics: [
                    Diagnostic(.tooManyNodes(limit: limits.maxNodes), at: .location(converter.exceededAt))
                ])
        }
        return Result(root: root, diagnostics: converter.diagnostics)
    }

    static func diagnostic(for error: YamlError, in text: String) -> Diagnostic {
        func located(_ problem: String, _ context: YamlError.Context?, _ mark: Mark) -> Diagnostic {
            var message = problem
            if let context, !context.text.isEmpty {
                message = "\(problem) (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
            }
            return Diagnostic(.yamlSyntax(message), at: .location(SourceLocation(line: mark.line, column: mark.column)))
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            if problem.hasPrefix("Maximum nesting level") {
                return Diagnostic(.nestingTooDeep, at: .location(SourceLocation(line: mark.line, column: mark.column)))
            }
            if problem.contains("but found another document") {
                return Diagnostic(
                    .multipleDocuments, at: .location(SourceLocation(line: mark.line, column: mark.column)))
            }
            return located(problem, context, mark)
        case .reader(let problem, let offset, let value, _):
            let location =
                offset.map { Self.location(ofCharacterOffset: $0, in: text) } ?? SourceLocation(line: 1, column: 1)
            let detail = value >= 0 ? "\(problem) (byte 0x\(String(value, radix: 16)))" : problem
            return Diagnostic(.yamlSyntax(detail), at: .location(location))
        case .duplicatedKeysInMapping(let duplicates, let context):
            return Diagnostic(
                .duplicateKey(duplicates.sorted().joined(separator: ", ")),
                at: .location(SourceLocation(line: context.mark.line, column: context.mark.column)))
        default:
            return Diagnostic(.yamlSyntax("\(error)"), at: .file)
        }
    }

    static func location(ofCharacterOffset offset: Int, in text: String) -> SourceLocation {
        var line = 1
        var column = 1
        for character in text.prefix(offset) {
            if character == "\n" || character == "\r\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return SourceLocation(line: line, column: column)
    }
}

extension DocumentLoader {
    /// Copies a Yams tree into `DocumentNode`s, counting nodes (aliases at every use) and applying `<<` merges.
    fileprivate struct Converter {
        let maxNodes: Int
        var count = 0
        var exceeded = false
        var exceededAt = SourceLocation(line: 1, column: 1)
        var diagnostics: [Diagnostic] = []

        init(maxNodes: Int) {
            self.maxNodes = maxNodes
        }

        mutating func convert(_ node: Yams.Node) -> DocumentNode {
            let location = Self.location(node)
            count += 1
            if count > maxNodes {
                if !exceeded { exceededAt = location }
                exceeded = true
                return DocumentNode(.sequence([]), at: location)
            }
            switch node {
            case .scalar(let scalar):
                let rawTag = scalar.tag.rawValue
                let tag = rawTag.isEmpty || rawTag == "!" ? nil : rawTag
                var located = location
                if scalar.style == .plain || scalar.style == .singleQuoted || scalar.style == .doubleQuoted,
                    !scalar.string.utf8.contains(UInt8(ascii: "\n"))
                {
                    let quotes = scalar.style == .plain ? 0 : 2
                    located.length = scalar.string.unicodeScalars.count + quotes
                }
                return DocumentNode(
                    .scalar(DocumentNode.Scalar(text: scalar.string, style: Self.style(scalar.style), tag: tag)),
                    at: located)
            case .sequence(let sequence):
                var items: [DocumentNode] = []
                items.reserveCapacity(sequence.count)
                for item in sequence {
                    if exceeded { break }
                    items.append(convert(item))
                }
                return DocumentNode(.sequence(items), at: location)
            case .mapping(let mapping):
                var entries: [DocumentNode.Entry] = []
                var merged: [DocumentNode.Entry] = []
                for (key, value) in mapping {
                    if exceeded { break }
                    let convertedKey = convert(key)
                    if let keyScalar = convertedKey.scalar, keyScalar.text == "<<", keyScalar.style == .plain {
                        merged.append(contentsOf: mergeSources(convert(value)))
                        continue
                    }
                    entries.append(DocumentNode.Entry(key: convertedKey, value: convert(value)))
                }
                // Keys written in the mapping win over merged ones; earlier merge sources win over later ones.
                var seen = Set(entries.compactMap(\.name))
                for entry in merged {
                    guard let name = entry.name, !seen.contains(name) else { continue }
                    seen.insert(name)
                    entries.append(entry)
                }
                return DocumentNode(.mapping(entries), at: location)
            case .alias:
                return DocumentNode(.scalar(.init(text: "", style: .plain)), at: location)
            }
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

        static func location(_ node: Yams.Node) -> SourceLocation {
            guard let mark = node.mark else { return SourceLocation(line: 1, column: 1) }
            return SourceLocation(line: mark.line, column: mark.column)
        }

        static func style(_ style: Yams.Node.Scalar.Style) -> DocumentNode.ScalarStyle {
            switch style {
            case .singleQuoted: .singleQuoted
            case .doubleQuoted: .doubleQuoted
            case .literal: .literal
            case .folded: .folded
            case .plain, .any: .plain
            }
        }
    }
}

/// Finds aliases (`*name`) used as mapping keys, or complex keys in a document that has anchors, before parsing.
///
/// Yams hashes mapping keys to find duplicates; a key that aliases an exponentially nested node would take
/// forever to hash. Runbooks never need such keys, so they are refused up front.
enum AliasKeyScan {
    static func firstAliasKey(in text: String) -> SourceLocation? {
        // Cheap exit: no anchor, no alias bomb.
        guard text.utf8.contains(UInt8(ascii: "&")), text.utf8.contains(UInt8(ascii: "*")) else { return nil }
        var lineNumber = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let scalars = Array(line.unicodeScalars)
            var index = 0
            while index < scalars.count {
                let character = scalars[index]
                let previous: Unicode.Scalar = index > 0 ? scalars[index - 1] : " "
                let startsToken =
                    previous == " " || previous == "\t" || previous == "[" || previous == "{"
                    || previous == ","
                if character == "*", startsToken {
                    var end = index + 1
                    while end < scalars.count, isAnchorCharacter(scalars[end]) { end += 1 }
                    var after = end
                    while after < scalars.count, scalars[after] == " " || scalars[after] == "\t" { after += 1 }
                    if end > index + 1, after < scalars.count, scalars[after] == ":",
                        after + 1 == scalars.count || scalars[after + 1] == " " || scalars[after + 1] == "\t"
                    {
                        return SourceLocation(line: lineNumber, column: index + 1, length: end - index)
                    }
                    index = end
                    continue
                }
                if character == "]" || character == "}", index + 1 < scalars.count, scalars[index + 1] == ":",
                    index + 2 == scalars.count || scalars[index + 2] == " " || scalars[index + 2] == "\t"
                {
                    return SourceLocation(line: lineNumber, column: index + 1)
                }
                if character == "?", startsToken || index == 0,
                    index + 1 == scalars.count || scalars[index + 1] == " " || scalars[index + 1] == "\t",
                    scalars[..<index].allSatisfy({ $0 == " " || $0 == "-" || $0 == "\t" })
                {
                    return SourceLocation(line: lineNumber, column: index + 1)
                }
                index += 1
            }
        }
        return nil
    }

    private static func isAnchorCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", "-", "_": true
        default: false
        }
    }
}

extension String {
    /// Decodes UTF-8, returning nil (rather than repairing) when the bytes are not valid UTF-8.
    init?(validatingUTF8Data data: Data) {
        guard let text = String(data: data, encoding: .utf8) else { return nil }
        self = text
    }
}
