/// Alertmanager's UTF-8 matchers parser (`matcher/parse`, Alertmanager 0.27 and later): zero or more
/// matchers separated by commas, optionally inside one pair of braces, with an optional trailing comma.
///
/// A name or a value is one token: double-quoted (decoded as a Go string literal) or unquoted (a run of
/// characters other than whitespace and `{}!=~,\"'` and backtick, taken as written). Whitespace, line feeds
/// included, may stand between tokens. A regex value must compile, as `NewMatcher` requires.
enum UTF8MatcherParser {
    static func parse(_ scalars: [Unicode.Scalar], regexIsValid: (String) -> Bool) throws(MatcherSyntaxError)
        -> [LabelMatcher]
    {
        var parser = Parser(scalars: scalars, lexer: MatcherLexer(scalars))
        return try parser.run(regexIsValid: regexIsValid)
    }

    private enum State {
        case openBrace, matcher, endOfMatcher, comma, closeBrace, endOfInput
    }

    private struct Parser {
        let scalars: [Unicode.Scalar]
        let lexer: MatcherLexer
        var position = 0
        var hasOpenBrace = false
        var matchers: [LabelMatcher] = []

        init(scalars: [Unicode.Scalar], lexer: MatcherLexer) {
            self.scalars = scalars
            self.lexer = lexer
        }

        /// The next token, nil at the end of the input; the lexer's error once its tokens are used up.
        func peek() throws(MatcherSyntaxError) -> MatcherLexer.Token? {
            if position < lexer.tokens.count { return lexer.tokens[position] }
            if let error = lexer.error { throw error }
            return nil
        }

        func text(_ token: MatcherLexer.Token) -> String {
            String(String.UnicodeScalarView(scalars[token.start..<token.end]))
        }

        func unexpected(_ token: MatcherLexer.Token?, expected: String) -> MatcherSyntaxError {
            guard let token else {
                return MatcherSyntaxError(
                    message: "expected \(expected), found the end of the item", column: scalars.count)
            }
            return MatcherSyntaxError(message: "expected \(expected), found `\(text(token))`", column: token.start)
        }

        /// Consumes a token that must be there and be a name or value.
        mutating func string(_ role: String) throws(MatcherSyntaxError) -> String {
            let token = try peek()
            guard let token, token.isString else { throw unexpected(token, expected: role) }
            position += 1
            guard token.kind == .quoted else { return text(token) }
            return try GoStringLiteral.unquote(scalars[token.start + 1..<token.end - 1], column: token.start + 1)
        }

        mutating func run(regexIsValid: (String) -> Bool) throws(MatcherSyntaxError) -> [LabelMatcher] {
            var state = State.openBrace
            while true {
                switch state {
                case .openBrace:
                    guard var next = try peek() else {
                        state = .endOfInput
                        continue
                    }
                    if next.kind == .openBrace {
                        hasOpenBrace = true
                        position += 1
                        guard let afterBrace = try peek() else {
                            state = .closeBrace
                            continue
                        }
                        next = afterBrace
                    }
                    state = next.kind == .closeBrace ? .closeBrace : .matcher
                case .matcher:
                    let name = try string("a label name")
                    let opToken = try peek()
                    guard let opToken, case .op(let op) = opToken.kind else {
                        throw unexpected(opToken, expected: "an operator (`=`, `!=`, `=~` or `!~`)")
                    }
                    position += 1
                    let valueStart = try peek()?.start ?? scalars.count
                    let value = try string("a label value")
                    if op.isRegex, !regexIsValid(value) {
                        throw MatcherSyntaxError(message: "invalid regular expression", column: valueStart)
                    }
                    matchers.append(LabelMatcher(name: name, op: op, value: value))
                    state = .endOfMatcher
                case .endOfMatcher:
                    let next = try peek()
                    switch next?.kind {
                    case nil, .closeBrace: state = .closeBrace
                    case .comma: state = .comma
                    default: throw unexpected(next, expected: "`,` or `}` after a matcher")
                    }
                case .comma:
                    position += 1
                    let next = try peek()
                    switch next?.kind {
                    case nil, .closeBrace: state = .closeBrace
                    case .quoted, .unquoted: state = .matcher
                    default: throw unexpected(next, expected: "a matcher or `}` after `,`")
                    }
                case .closeBrace:
                    // Reached at the end of the input or before a `}`, never before a lexer error.
                    let next = try? peek()
                    if hasOpenBrace {
                        guard next?.kind == .closeBrace else { throw unexpected(nil, expected: "`}`") }
                        position += 1
                    } else if let next, next.kind == .closeBrace {
                        throw MatcherSyntaxError(message: "`}` without an opening `{`", column: next.start)
                    }
                    state = .endOfInput
                case .endOfInput:
                    if let next = try peek() { throw unexpected(next, expected: "the end of the item") }
                    return matchers
                }
            }
        }
    }
}
