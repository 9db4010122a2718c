import Foundation

extension LabelMatcher {
    /// Why a matcher string could not be parsed, with the column (1-based, within the string) of the problem.
    public struct ParseError: Error, Sendable, Equatable {
        public var message: String
        public var offset: Int
    }

    /// Parses Alertmanager matcher syntax: `name OP value`, where OP is `=`, `!=`, `=~` or `!~`, the name is a
    /// label name or a double-quoted string, and the value is double-quoted (with `\"`, `\\`, `\n` escapes) or
    /// unquoted (the rest of the text, trimmed). A surrounding `{...}` holding exactly one matcher is accepted.
    public static func parse(_ text: String) throws(ParseError) -> LabelMatcher {
        var scanner = Scanner(Array(text.unicodeScalars))
        scanner.skipSpaces()
        let braced = scanner.consume("{")
        scanner.skipSpaces()
        let name = try scanner.name()
        scanner.skipSpaces()
        let op = try scanner.operator()
        scanner.skipSpaces()
        let value: String
        if scanner.peek == "\"" {
            value = try scanner.quoted()
            scanner.skipSpaces()
            if braced {
                guard scanner.consume("}") else { throw scanner.error("expected `}` after the value") }
                scanner.skipSpaces()
            }
            guard scanner.atEnd else {
                throw scanner.error("unexpected text after the quoted value; write one matcher per list item")
            }
        } else {
            var rest = scanner.rest().trimmingCharacters(in: .whitespaces)
            if braced {
                guard rest.hasSuffix("}") else { throw scanner.error("expected `}` at the end") }
                rest = String(rest.dropLast()).trimmingCharacters(in: .whitespaces)
            }
            // Scalars, not Characters: a quote followed by a combining mark is one Character (found by fuzzing).
            if rest.unicodeScalars.contains("\"") {
                throw scanner.error("unquoted value contains `\"`; quote the whole value")
            }
            value = rest
        }
        return LabelMatcher(name: name, op: op, value: value)
    }

    fileprivate struct Scanner {
        let scalars: [Unicode.Scalar]
        var index = 0

        init(_ scalars: [Unicode.Scalar]) {
            self.scalars = scalars
        }

        var atEnd: Bool { index >= scalars.count }
        var peek: Unicode.Scalar? { atEnd ? nil : scalars[index] }

        func error(_ message: String) -> ParseError {
            ParseError(message: message, offset: min(index, scalars.count) + 1)
        }

        mutating func skipSpaces() {
            while let next = peek, next == " " || next == "\t" { index += 1 }
        }

        mutating func consume(_ scalar: Unicode.Scalar) -> Bool {
            guard peek == scalar else { return false }
            index += 1
            return true
        }

        mutating func name() throws(ParseError) -> String {
            if peek == "\"" {
                let quoted = try quoted()
                guard !quoted.isEmpty else { throw error("label name is empty") }
                return quoted
            }
            var name = ""
            while let next = peek, Identifier.isLetter(next) || Identifier.isDigit(next) || next == "_" {
                name.unicodeScalars.append(next)
                index += 1
            }
            guard !name.isEmpty else {
                throw error(atEnd ? "expected a label name" : "expected a label name, found `\(peek!)`")
            }
            guard Identifier.isLabelName(name) else {
                throw ParseError(message: "label name `\(name)` may not start with a digit", offset: 1)
            }
            return name
        }

        mutating func `operator`() throws(ParseError) -> Operator {
            let pair = String(String.UnicodeScalarView(scalars[index..<min(index + 2, scalars.count)]))
            for op in [Operator.regexMatch, .regexNoMatch, .notEqual] where pair == op.rawValue {
                index += 2
                return op
            }
            if consume("=") { return .equal }
            throw error("expected an operator (`=`, `!=`, `=~` or `!~`)")
        }

        mutating func quoted() throws(ParseError) -> String {
            let start = index
            guard consume("\"") else { throw error("expected `\"`") }
            var text = ""
            while let next = peek {
                index += 1
                switch next {
                case "\"":
                    return text
                case "\\":
                    guard let escaped = peek else { break }
                    index += 1
                    switch escaped {
                    case "n": text += "\n"
                    case "\\", "\"": text.unicodeScalars.append(escaped)
                    default:
                        // Alertmanager keeps unknown escapes as written (regexes use them: `\d`, `\.`).
                        text += "\\"
                        text.unicodeScalars.append(escaped)
                    }
                default:
                    text.unicodeScalars.append(next)
                }
            }
            throw ParseError(message: "unterminated quoted string", offset: start + 1)
        }

        mutating func rest() -> String {
            defer { index = scalars.count }
            return String(String.UnicodeScalarView(scalars[index...]))
        }
    }
}
