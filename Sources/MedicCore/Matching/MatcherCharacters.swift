/// The character classes Alertmanager's two matcher parsers are built on, named for what they are in Go.
enum MatcherCharacters {
    /// Go's `unicode.IsSpace`: the Unicode White_Space property (the UTF-8 lexer skips these; the classic
    /// parser trims them from the end of an item with `strings.TrimSpace`).
    static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    /// `\s` in a Go regular expression: ASCII `[\t\n\f\r ]` only (no vertical tab, nothing beyond ASCII).
    static func isRegexSpace(_ scalar: Unicode.Scalar) -> Bool {
        scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\u{0C}" || scalar == "\r"
    }

    /// Characters that end an unquoted token in the UTF-8 parser: whitespace and `{}!=~,\"'` and backtick.
    static func isReserved(_ scalar: Unicode.Scalar) -> Bool {
        if isSpace(scalar) { return true }
        switch scalar {
        case "{", "}", "!", "=", "~", ",", "\\", "\"", "'", "`": return true
        default: return false
        }
    }

    /// A label name the classic parser reads unquoted: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    static func isClassicLabelName(_ text: String) -> Bool {
        var scalars = text.unicodeScalars.makeIterator()
        guard let head = scalars.next(), isClassicNameStart(head) else { return false }
        while let next = scalars.next() {
            guard isClassicNameStart(next) || Identifier.isDigit(next) else { return false }
        }
        return true
    }

    static func isClassicNameStart(_ scalar: Unicode.Scalar) -> Bool {
        Identifier.isLetter(scalar) || scalar == "_" || scalar == ":"
    }
}
