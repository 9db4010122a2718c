/// The tokens of Alertmanager's UTF-8 matcher syntax (`matcher/parse/lexer.go`): braces, commas, the four
/// operators, double-quoted strings and unquoted runs of non-reserved characters; whitespace between them is
/// skipped. Positions are scalar indexes, as Alertmanager's columns are.
struct MatcherLexer {
    struct Token: Equatable {
        enum Kind: Equatable {
            case openBrace, closeBrace, comma, quoted, unquoted
            case op(LabelMatcher.Operator)
        }

        var kind: Kind
        /// Scalars `start..<end` of the input.
        var start: Int
        var end: Int

        var isString: Bool { kind == .quoted || kind == .unquoted }
    }

    /// Every token up to the end of the input or up to the first scalar that starts no token.
    var tokens: [Token] = []
    /// Set when the lexer stopped before the end; a parser reading past the last token meets it.
    var error: MatcherSyntaxError?

    init(_ scalars: [Unicode.Scalar]) {
        var index = 0
        func describe(_ scalar: Unicode.Scalar) -> String {
            scalar == "`" ? "a backtick" : "`\(scalar)`"
        }
        while index < scalars.count {
            let scalar = scalars[index]
            let next = index + 1 < scalars.count ? scalars[index + 1] : nil
            let kind: Token.Kind
            var end = index + 1
            switch scalar {
            case "{": kind = .openBrace
            case "}": kind = .closeBrace
            case ",": kind = .comma
            case "=":
                kind = .op(next == "~" ? .regexMatch : .equal)
                if next == "~" { end += 1 }
            case "!":
                guard let next, next == "=" || next == "~" else {
                    let found = next.map { ", found \(describe($0))" } ?? ", found the end of the item"
                    error = MatcherSyntaxError(message: "`!` must be followed by `=` or `~`\(found)", column: index)
                    return
                }
                kind = .op(next == "=" ? .notEqual : .regexNoMatch)
                end += 1
            case "\"":
                var escaped = false
                while end < scalars.count {
                    if escaped {
                        escaped = false
                    } else if scalars[end] == "\\" {
                        escaped = true
                    } else if scalars[end] == "\"" {
                        break
                    }
                    end += 1
                }
                guard end < scalars.count else {
                    error = MatcherSyntaxError(message: "quoted string has no closing `\"`", column: index)
                    return
                }
                kind = .quoted
                end += 1
            case _ where MatcherCharacters.isSpace(scalar):
                index = end
                continue
            case _ where MatcherCharacters.isReserved(scalar):
                let hint: String
                switch scalar {
                case "~": hint = "it only stands in the operators `=~` and `!~`"
                case "\\": hint = "escapes need a quoted string (\"…\")"
                default: hint = "put it inside double quotes (\"…\")"
                }
                error = MatcherSyntaxError(message: "\(describe(scalar)) is not allowed here; \(hint)", column: index)
                return
            default:
                kind = .unquoted
                while end < scalars.count, !MatcherCharacters.isReserved(scalars[end]) { end += 1 }
            }
            tokens.append(Token(kind: kind, start: index, end: end))
            index = end
        }
    }
}
