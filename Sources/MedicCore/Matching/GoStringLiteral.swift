/// Decodes the inside of a double-quoted Go string literal, as `strconv.Unquote` does: the UTF-8 parser
/// reads quoted names and values this way.
///
/// Escapes: `\a \b \f \n \r \t \v \\ \"`, `\xHH` and `\ooo` (one byte each), `\uHHHH` and `\UHHHHHHHH`
/// (a Unicode scalar, not a surrogate). Any other escape, `\'` included, and a raw line feed are errors,
/// and so is a result that is not valid UTF-8 (`"\xff"`; `"\xc3\xa9"` is `é`).
enum GoStringLiteral {
    /// `content` is what lies between the quotes; `column` is the column of its first scalar.
    static func unquote(_ content: ArraySlice<Unicode.Scalar>, column: Int) throws(MatcherSyntaxError) -> String {
        guard let text = String(validating: try bytes(content, column: column), as: UTF8.self) else {
            throw MatcherSyntaxError(message: "a quoted string's escapes make invalid UTF-8", column: column - 1)
        }
        return text
    }

    /// The bytes the literal stands for, valid UTF-8 or not (Go's regexp test vectors hold invalid bytes).
    static func bytes(_ content: ArraySlice<Unicode.Scalar>, column: Int) throws(MatcherSyntaxError) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = content.startIndex
        func fail(_ message: String, at position: Int) -> MatcherSyntaxError {
            MatcherSyntaxError(message: message, column: column + (position - content.startIndex))
        }
        func append(_ scalar: Unicode.Scalar) {
            bytes.append(contentsOf: UTF8.encode(scalar)!)
        }
        while index < content.endIndex {
            let scalar = content[index]
            if scalar == "\n" { throw fail("a quoted string may not hold a raw line feed; write \\n", at: index) }
            guard scalar == "\\" else {
                append(scalar)
                index += 1
                continue
            }
            let start = index
            index += 1
            guard index < content.endIndex else { throw fail("a quoted string ends in a lone `\\`", at: start) }
            let escape = content[index]
            index += 1
            switch escape {
            case "a": bytes.append(0x07)
            case "b": bytes.append(0x08)
            case "f": bytes.append(0x0C)
            case "n": bytes.append(0x0A)
            case "r": bytes.append(0x0D)
            case "t": bytes.append(0x09)
            case "v": bytes.append(0x0B)
            case "\\": bytes.append(0x5C)
            case "\"": bytes.append(0x22)
            case "x", "u", "U":
                let width = escape == "x" ? 2 : escape == "u" ? 4 : 8
                guard let value = number(content, from: index, digits: width, radix: 16) else {
                    throw fail("`\\\(escape)` needs \(width) hex digits", at: start)
                }
                index += width
                if escape == "x" {
                    bytes.append(UInt8(value))
                } else {
                    guard let decoded = Unicode.Scalar(value) else {
                        throw fail("`\\\(escape)` names no Unicode scalar (a surrogate, or beyond U+10FFFF)", at: start)
                    }
                    append(decoded)
                }
            case "0"..."7":
                guard let value = number(content, from: index - 1, digits: 3, radix: 8), value <= 255 else {
                    throw fail("an octal escape needs three octal digits, at most \\377", at: start)
                }
                index += 2
                bytes.append(UInt8(value))
            default:
                throw fail(
                    "`\\\(escape)` is not an escape in a quoted string (Go's rules); write `\\\\\(escape)` for a "
                        + "backslash", at: start)
            }
        }
        return bytes
    }

    private static func number(_ scalars: ArraySlice<Unicode.Scalar>, from start: Int, digits: Int, radix: UInt32)
        -> UInt32?
    {
        guard start + digits <= scalars.endIndex else { return nil }
        var value: UInt32 = 0
        for scalar in scalars[start..<start + digits] {
            guard scalar.isASCII, let digit = UInt32(String(scalar), radix: Int(radix)) else { return nil }
            value = value * radix + digit
        }
        return value
    }
}
