import Foundation

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
        switch EventLoader.load(text, maxNodes: limits.maxNodes) {
        case .failure(let failure):
            return Result(root: nil, diagnostics: [Self.diagnostic(for: failure, in: text)])
        case .success(let (root, diagnostics)):
            guard let root, !(root.scalar?.isNull ?? false) else {
                return Result(root: nil, diagnostics: [Diagnostic(.emptyDocument, at: .file)])
            }
            return Result(root: root, diagnostics: diagnostics)
        }
    }

    static func diagnostic(for failure: EventLoader.Failure, in text: String) -> Diagnostic {
        switch failure {
        case .yaml(let problem, let context, let mark):
            if problem.hasPrefix("Maximum nesting level") {
                return Diagnostic(.nestingTooDeep, at: .location(mark))
            }
            var message = problem
            if let context, !context.text.isEmpty {
                message = "\(problem) (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
            }
            return Diagnostic(.yamlSyntax(message), at: .location(mark))
        case .reader(let problem, let byteOffset, let value):
            // The offset is in bytes; shown as the line and column of the character it falls in.
            let index = text.utf8.index(text.utf8.startIndex, offsetBy: byteOffset, limitedBy: text.utf8.endIndex)?
                .samePosition(in: text)
            let location =
                index.map { Self.location(ofCharacterOffset: text.distance(from: text.startIndex, to: $0), in: text) }
                ?? SourceLocation(line: 1, column: 1)
            let detail = value >= 0 ? "\(problem) (byte 0x\(String(value, radix: 16)))" : problem
            return Diagnostic(.yamlSyntax(detail), at: .location(location))
        case .duplicateKeys(let keys, let location):
            return Diagnostic(.duplicateKey(keys.sorted().joined(separator: ", ")), at: .location(location))
        case .multipleDocuments(let location):
            return Diagnostic(.multipleDocuments, at: .location(location))
        case .tooManyNodes(let limit, let location):
            return Diagnostic(.tooManyNodes(limit: limit), at: .location(location))
        case .memory:
            return Diagnostic(.yamlSyntax("out of memory"), at: .file)
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

/// Finds aliases (`*name`) used as mapping keys, or complex keys in a document that has anchors, before parsing.
///
/// The duplicate-key check spells out each key (`EventLoader.identity`); a key that aliases an exponentially
/// nested node would take forever to spell out. Runbooks never need such keys, so they are refused up front.
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
