/// Parses the `when` language: `== != < <= > >= && || !`, `contains`, `matches` (anchored regex),
/// `in [...]`, parentheses, string/int/bool/duration literals and references.
public struct ExpressionParser {
    private enum Token: Equatable {
        case name(String)
        case string(String)
        case int(Int)
        case duration(Duration)
        case symbol(String)
        case end
    }

    private var tokens: [(token: Token, offset: Int)] = []
    private var position = 0
    private let source: String

    /// Deepest nesting of parentheses, lists and `!` accepted.
    public static let maxDepth = 64
    /// Most tokens in one expression. A long `a && b && ...` chain nests as deep as it is long, and the
    /// type checker and the evaluator recurse through it (found by fuzzing: a stack overflow).
    public static let maxTokens = 256
    private var depth = 0

    private init(source: String) {
        self.source = source
    }

    public static func parse(_ text: String) -> Result<Expression, ExpressionError> {
        var parser = ExpressionParser(source: text)
        do {
            try parser.tokenize()
            // `tokens` ends with `.end`, which does not count.
            if parser.tokens.count - 1 > maxTokens {
                throw ExpressionError(
                    message: "expression is too long (more than \(maxTokens) tokens); split it or compute it in a step",
                    offset: parser.tokens[maxTokens].offset)
            }
            let root = try parser.parseOr()
            guard case .end = parser.current.token else {
                throw ExpressionError(
                    message: "unexpected \(parser.describe(parser.current.token))", offset: parser.current.offset)
            }
            return .success(Expression(source: text, root: root))
        } catch let error as ExpressionError {
            return .failure(error)
        } catch {
            return .failure(ExpressionError(message: "\(error)", offset: 0))
        }
    }

    // MARK: Lexing

    private mutating func tokenize() throws {
        let scalars = Array(source.unicodeScalars)
        var index = 0
        while index < scalars.count {
            let c = scalars[index]
            if c == " " || c == "\t" || c == "\n" || c == "\r" {
                index += 1
                continue
            }
            let start = index
            if c == "'" || c == "\"" {
                var text = ""
                index += 1
                var closed = false
                while index < scalars.count {
                    let next = scalars[index]
                    index += 1
                    if next == c {
                        closed = true
                        break
                    }
                    if next == "\\", index < scalars.count {
                        let escaped = scalars[index]
                        index += 1
                        switch escaped {
                        case "n": text += "\n"
                        case "t": text += "\t"
                        case "\\", "'", "\"": text.unicodeScalars.append(escaped)
                        default:
                            text += "\\"
                            text.unicodeScalars.append(escaped)
                        }
                        continue
                    }
                    text.unicodeScalars.append(next)
                }
                guard closed else { throw ExpressionError(message: "unterminated string", offset: start) }
                tokens.append((.string(text), start))
                continue
            }
            let isNegativeNumber = c == "-" && index + 1 < scalars.count && Identifier.isDigit(scalars[index + 1])
            if Identifier.isDigit(c) || isNegativeNumber {
                index += 1
                while index < scalars.count, Identifier.isDigit(scalars[index]) || Identifier.isLetter(scalars[index]) {
                    index += 1
                }
                let text = String(String.UnicodeScalarView(scalars[start..<index]))
                if let value = Int(text) {
                    tokens.append((.int(value), start))
                } else if let value = Duration(dsl: text) {
                    tokens.append((.duration(value), start))
                } else {
                    throw ExpressionError(message: "`\(text)` is neither a number nor a duration", offset: start)
                }
                continue
            }
            if Identifier.isLetter(c) || c == "_" {
                while index < scalars.count {
                    let next = scalars[index]
                    guard
                        Identifier.isLetter(next) || Identifier.isDigit(next) || next == "_" || next == "-"
                            || next == "."
                    else { break }
                    index += 1
                }
                tokens.append((.name(String(String.UnicodeScalarView(scalars[start..<index]))), start))
                continue
            }
            let pair = index + 1 < scalars.count ? String(String.UnicodeScalarView(scalars[index...(index + 1)])) : ""
            if ["==", "!=", "<=", ">=", "&&", "||"].contains(pair) {
                tokens.append((.symbol(pair), start))
                index += 2
                continue
            }
            if "<>!()[],".unicodeScalars.contains(c) {
                tokens.append((.symbol(String(c)), start))
                index += 1
                continue
            }
            if c == "=" {
                throw ExpressionError(message: "`=` is not an operator; compare with `==`", offset: start)
            }
            if c == "&" || c == "|" {
                throw ExpressionError(message: "use `\(c)\(c)`, not `\(c)`", offset: start)
            }
            throw ExpressionError(message: "unexpected character `\(c)`", offset: start)
        }
        tokens.append((.end, scalars.count))
    }

    // MARK: Parsing

    private var current: (token: Token, offset: Int) { tokens[position] }

    private mutating func advance() -> (token: Token, offset: Int) {
        defer { if position < tokens.count - 1 { position += 1 } }
        return tokens[position]
    }

    private mutating func accept(_ symbol: String) -> Bool {
        if case .symbol(let s) = current.token, s == symbol {
            position += 1
            return true
        }
        return false
    }

    private mutating func acceptKeyword(_ keyword: String) -> Bool {
        if case .name(let s) = current.token, s == keyword {
            position += 1
            return true
        }
        return false
    }

    private mutating func nest() throws {
        depth += 1
        if depth > Self.maxDepth {
            throw ExpressionError(
                message: "expression nests deeper than \(Self.maxDepth) levels", offset: current.offset)
        }
    }

    private mutating func parseOr() throws -> Expression.Term {
        var left = try parseAnd()
        while accept("||") {
            left = .or(left, try parseAnd())
        }
        return left
    }

    private mutating func parseAnd() throws -> Expression.Term {
        var left = try parseNot()
        while accept("&&") {
            left = .and(left, try parseNot())
        }
        return left
    }

    private mutating func parseNot() throws -> Expression.Term {
        if accept("!") {
            try nest()
            defer { depth -= 1 }
            return .not(try parseNot())
        }
        return try parseComparison()
    }

    private mutating func parseComparison() throws -> Expression.Term {
        let left = try parsePrimary()
        if case .symbol(let symbol) = current.token, let op = Expression.ComparisonOperator(rawValue: symbol) {
            position += 1
            return .compare(op, left, try parsePrimary())
        }
        if acceptKeyword("contains") {
            return .contains(left, try parsePrimary())
        }
        if case .name("matches") = current.token {
            position += 1
            let (token, offset) = advance()
            guard case .string(let pattern) = token else {
                throw ExpressionError(message: "`matches` takes a quoted regular expression", offset: offset)
            }
            return .matches(left, pattern: pattern, offset: offset)
        }
        if acceptKeyword("in") {
            return .isIn(left, try parsePrimary())
        }
        return left
    }

    private mutating func parsePrimary() throws -> Expression.Term {
        let (token, offset) = advance()
        switch token {
        case .string(let value): return .string(value, offset: offset)
        case .int(let value): return .int(value, offset: offset)
        case .duration(let value): return .duration(value, offset: offset)
        case .symbol("("):
            try nest()
            defer { depth -= 1 }
            let inner = try parseOr()
            guard accept(")") else {
                throw ExpressionError(message: "expected `)`, found \(describe(current.token))", offset: current.offset)
            }
            return inner
        case .symbol("["):
            try nest()
            defer { depth -= 1 }
            var items: [Expression.Term] = []
            if accept("]") { return .list(items) }
            repeat {
                items.append(try parsePrimary())
            } while accept(",")
            guard accept("]") else {
                throw ExpressionError(
                    message: "expected `,` or `]`, found \(describe(current.token))", offset: current.offset)
            }
            return .list(items)
        case .name("true"): return .bool(true, offset: offset)
        case .name("false"): return .bool(false, offset: offset)
        case .name(let name):
            if ["contains", "matches", "in"].contains(name) {
                throw ExpressionError(message: "`\(name)` needs a value on its left", offset: offset)
            }
            if !name.contains(".") {
                throw ExpressionError(
                    message:
                        "unknown name `\(name)`; write a reference such as params.\(name), or quote a string: '\(name)'",
                    offset: offset)
            }
            switch Reference.parse(name) {
            case .success(let reference): return .reference(reference, offset: offset)
            case .failure(let error): throw ExpressionError(message: error.message, offset: offset)
            }
        case .end:
            throw ExpressionError(message: "expression ends too early; expected a value", offset: offset)
        case .symbol(let symbol):
            throw ExpressionError(message: "expected a value, found `\(symbol)`", offset: offset)
        }
    }

    private func describe(_ token: Token) -> String {
        switch token {
        case .name(let name): "`\(name)`"
        case .string(let value): "string '\(value)'"
        case .int(let value): "number \(value)"
        case .duration(let value): "duration \(value.dslDescription)"
        case .symbol(let symbol): "`\(symbol)`"
        case .end: "end of expression"
        }
    }
}
