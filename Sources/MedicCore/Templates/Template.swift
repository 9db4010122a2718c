/// A string with `{{ reference }}` holes, rendered into exactly one value (never re-split, never given to a shell).
///
/// A hole holds a reference (`{{ params.instance }}`) or a quoted literal (`{{ '{{.State}}' }}`), the way to
/// write literal braces for tools such as `docker --format`.
public struct Template: Sendable, Hashable, CustomStringConvertible {
    /// A piece of a template.
    public enum Segment: Sendable, Hashable {
        case literal(String)
        case reference(Reference)
    }

    /// The text as written.
    public var source: String
    public var segments: [Segment]

    public init(source: String, segments: [Segment]) {
        self.source = source
        self.segments = segments
    }

    /// A template with no holes.
    public init(literal text: String) {
        self.source = text
        self.segments = text.isEmpty ? [] : [.literal(text)]
    }

    public var references: [Reference] {
        segments.compactMap {
            if case .reference(let reference) = $0 { return reference }
            return nil
        }
    }

    public var isLiteral: Bool { references.isEmpty }

    public var description: String { source }

    /// Why a template could not be parsed; `offset` counts Unicode scalars from the start of the text (0-based).
    public struct ParseError: Error, Sendable, Equatable {
        public var message: String
        public var offset: Int
    }

    /// Parses every hole; returns the template and every problem found (a broken hole does not hide later ones).
    public static func parse(_ text: String) -> (Template, [ParseError]) {
        if !containsHole(text) { return (Template(literal: text), []) }
        let scalars = Array(text.unicodeScalars)
        var segments: [Segment] = []
        var errors: [ParseError] = []
        var literal = ""
        var index = 0
        func flush() {
            if !literal.isEmpty {
                segments.append(.literal(literal))
                literal = ""
            }
        }
        while index < scalars.count {
            if scalars[index] == "{", index + 1 < scalars.count, scalars[index + 1] == "{" {
                let open = index
                guard let close = closingBraces(in: scalars, from: index + 2) else {
                    errors.append(ParseError(message: "`{{` is never closed with `}}`", offset: open))
                    literal += String(String.UnicodeScalarView(scalars[open...]))
                    break
                }
                let inner = String(String.UnicodeScalarView(scalars[(open + 2)..<close]))
                    .trimmingCharacters(in: .whitespaces)
                index = close + 2
                if let quoted = Self.quotedLiteral(inner) {
                    literal += quoted
                    continue
                }
                if inner.isEmpty {
                    errors.append(ParseError(message: "empty `{{ }}`", offset: open))
                    continue
                }
                if inner.contains(where: { $0 == " " || $0 == "|" || $0 == "(" }) {
                    errors.append(
                        ParseError(
                            message:
                                "`{{ \(inner) }}` is not a reference; a hole holds one name such as params.NAME (no filters or expressions)",
                            offset: open))
                    continue
                }
                switch Reference.parse(inner) {
                case .success(let reference):
                    flush()
                    segments.append(.reference(reference))
                case .failure(let error):
                    errors.append(ParseError(message: error.message, offset: open))
                }
                continue
            }
            literal.unicodeScalars.append(scalars[index])
            index += 1
        }
        flush()
        return (Template(source: text, segments: segments), errors)
    }

    private static func closingBraces(in scalars: [Unicode.Scalar], from start: Int) -> Int? {
        var index = start
        var quote: Unicode.Scalar?
        while index + 1 < scalars.count {
            let c = scalars[index]
            if let open = quote {
                if c == open { quote = nil }
            } else if c == "'" || c == "\"" {
                quote = c
            } else if c == "}", scalars[index + 1] == "}" {
                return index
            }
            index += 1
        }
        return nil
    }

    private static func quotedLiteral(_ inner: String) -> String? {
        guard inner.count >= 2, let first = inner.first, first == "'" || first == "\"", inner.last == first else {
            return nil
        }
        let body = inner.dropFirst().dropLast()
        guard !body.contains(first) else { return nil }
        return String(body)
    }

    /// True when the text contains `{{` anywhere (used to refuse templates in shell scripts).
    public static func containsHole(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.indices.dropLast().contains {
            bytes[$0] == UInt8(ascii: "{") && bytes[$0 + 1] == UInt8(ascii: "{")
        }
    }
}
