/// Alertmanager's classic matchers parser (`pkg/labels/parse.go`, `matcher/oldparse` on main), which
/// Alertmanager still tries in its default fallback mode.
///
/// One leading `{` and one trailing `}` are dropped if present (no whitespace may stand before or after them).
/// The rest is split at commas outside double quotes (a quote after a backslash does not open or close a
/// quoted part); the last piece is trimmed of Unicode whitespace and dropped when that leaves it empty. Each
/// piece is one matcher, read as `^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*((?s).*?)\s*$` with Go's
/// ASCII `\s`. The value may be wrapped in double quotes; either way `\n`, `\"` and `\\` are decoded, any
/// other backslash (and a backslash at the very end) is kept, and a `"` anywhere but at the two ends is an
/// error. A regex value must compile.
enum ClassicMatcherParser {
    static func parse(_ scalars: [Unicode.Scalar], regexIsValid: (String) -> Bool) throws(MatcherSyntaxError)
        -> [LabelMatcher]
    {
        var body = scalars[...]
        if body.first == "{" { body = body.dropFirst() }
        if body.last == "}" { body = body.dropLast() }

        var pieces: [ArraySlice<Unicode.Scalar>] = []
        var pieceStart = body.startIndex
        var insideQuotes = false
        var escaped = false
        for index in body.indices {
            switch body[index] {
            case ",":
                // A comma leaves `escaped` as it was (as Alertmanager's loop does).
                if !insideQuotes {
                    pieces.append(body[pieceStart..<index])
                    pieceStart = index + 1
                }
            case "\"":
                if escaped { escaped = false } else { insideQuotes.toggle() }
            case "\\":
                escaped.toggle()
            default:
                escaped = false
            }
        }
        var last = body[pieceStart...]
        while let first = last.first, MatcherCharacters.isSpace(first) { last = last.dropFirst() }
        while let final = last.last, MatcherCharacters.isSpace(final) { last = last.dropLast() }
        if !last.isEmpty { pieces.append(last) }

        return try pieces.map { piece throws(MatcherSyntaxError) in try matcher(piece, regexIsValid: regexIsValid) }
    }

    /// One piece; indexes are those of the whole item, so errors carry the item's columns.
    private static func matcher(_ piece: ArraySlice<Unicode.Scalar>, regexIsValid: (String) -> Bool)
        throws(MatcherSyntaxError) -> LabelMatcher
    {
        var index = piece.startIndex
        func skipSpaces() {
            while index < piece.endIndex, MatcherCharacters.isRegexSpace(piece[index]) { index += 1 }
        }
        func badFormat(_ problem: String) -> MatcherSyntaxError {
            MatcherSyntaxError(message: problem, column: index)
        }
        skipSpaces()
        guard index < piece.endIndex, MatcherCharacters.isClassicNameStart(piece[index]) else {
            throw badFormat("expected a label name ([a-zA-Z_:][a-zA-Z0-9_:]*, or a quoted name)")
        }
        let nameStart = index
        while index < piece.endIndex,
            MatcherCharacters.isClassicNameStart(piece[index]) || Identifier.isDigit(piece[index])
        {
            index += 1
        }
        let name = String(String.UnicodeScalarView(piece[nameStart..<index]))
        skipSpaces()
        let next = index + 1 < piece.endIndex ? piece[index + 1] : nil
        let op: LabelMatcher.Operator
        switch index < piece.endIndex ? piece[index] : nil {
        case "=": op = next == "~" ? .regexMatch : .equal
        case "!" where next == "=": op = .notEqual
        case "!" where next == "~": op = .regexNoMatch
        default: throw badFormat("expected an operator (`=`, `!=`, `=~` or `!~`) after the label name")
        }
        index += op.rawValue.unicodeScalars.count
        skipSpaces()
        var end = piece.endIndex
        while end > index, MatcherCharacters.isRegexSpace(piece[end - 1]) { end -= 1 }

        var raw = piece[index..<end]
        let valueStart = index
        var expectTrailingQuote = false
        if raw.first == "\"" {
            raw = raw.dropFirst()
            expectTrailingQuote = true
        }
        var value = String.UnicodeScalarView()
        var escaped = false
        for position in raw.indices {
            let scalar = raw[position]
            if escaped {
                escaped = false
                switch scalar {
                case "n": value.append("\n")
                case "\"", "\\": value.append(scalar)
                default: value.append(contentsOf: ["\\", scalar])
                }
                continue
            }
            switch scalar {
            case "\\" where position < raw.endIndex - 1:
                escaped = true
            case "\"":
                guard expectTrailingQuote, position == raw.endIndex - 1 else {
                    throw MatcherSyntaxError(
                        message: "the value holds an unescaped `\"`; write \\\" or quote the whole value",
                        column: position)
                }
                expectTrailingQuote = false
            default:
                value.append(scalar)
            }
        }
        if expectTrailingQuote {
            throw MatcherSyntaxError(message: "the quoted value has no closing `\"`", column: valueStart)
        }
        let text = String(value)
        if op.isRegex, !regexIsValid(text) {
            throw MatcherSyntaxError(message: "invalid regular expression", column: valueStart)
        }
        return LabelMatcher(name: name, op: op, value: text)
    }
}
