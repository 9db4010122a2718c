@testable import MedicCore
import Testing

/// Cases from the differential tester (`scripts/regex-differential/`), with Go 1.19's verdicts copied
/// literally, so they run without Go: each is a corner Go's own vectors do not reach (invalid UTF-8 in the
/// value, case-folding orbits, Unicode and POSIX classes, flags, `\Q…\E`, literal `{`, error codes).
@Suite struct GoRegexDifferentialTests {
    /// A pattern, a value as raw bytes (it may be invalid UTF-8), and Go's answers: `MatchString` of
    /// `^(?:re)$` and `FindSubmatchIndex` of `re`.
    struct MatchCase: Sendable, CustomTestStringConvertible {
        var pattern: String
        var input: [UInt8]
        var whole: Bool
        var first: [Int]?
        init(_ pattern: String, _ input: [UInt8], whole: Bool, first: [Int]?) {
            self.pattern = pattern
            self.input = input
            self.whole = whole
            self.first = first
        }
        var testDescription: String { "/\(pattern)/ on \(input)" }
    }

    /// A pattern Go refuses, and the error code it gives.
    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var pattern: String
        var code: GoRegex.SyntaxError.Code
        init(_ pattern: String, _ code: GoRegex.SyntaxError.Code) {
            self.pattern = pattern
            self.code = code
        }
        var testDescription: String { "/\(pattern)/" }
    }

    static let matchCases: [MatchCase] = [
        MatchCase("\\x{FFFD}", [0x80], whole: true, first: [0, 1]),
        MatchCase("a|\\x{FFFD}", [0xFF], whole: true, first: [0, 1]),
        MatchCase("\u{FFFD}", [0xC3], whole: true, first: [0, 1]),
        MatchCase("\\x{FFFD}+", [0xED, 0xA0, 0x80], whole: true, first: [0, 3]),
        MatchCase("(?i)k", [0xE2, 0x84, 0xAA], whole: true, first: [0, 3]),
        MatchCase("(?i)s", [0xC5, 0xBF], whole: true, first: [0, 2]),
        MatchCase("(?i)[^k]", [0xE2, 0x84, 0xAA], whole: false, first: nil),
        MatchCase("(?i)\\W", [0x6B], whole: false, first: nil),
        MatchCase("(?i)\\W", [0xE2, 0x84, 0xAA], whole: false, first: nil),
        MatchCase("(?i)[[:^lower:]]", [0xC5, 0xBF], whole: false, first: nil),
        MatchCase("(?i)\\P{Ll}", [0x61], whole: false, first: nil),
        MatchCase("(?i)\u{DF}", [0xE1, 0xBA, 0x9E], whole: true, first: [0, 3]),
        MatchCase("(?i)\u{3C3}", [0xCF, 0x82], whole: true, first: [0, 2]),
        MatchCase("(?i)[^\u{3C3}]", [0xCE, 0xA3], whole: false, first: nil),
        MatchCase("[[:^alpha:]]", [0xC3, 0xA9], whole: true, first: [0, 2]),
        MatchCase("\\pL+", [0xE6, 0x97, 0xA5, 0xE6, 0x9C, 0xAC], whole: true, first: [0, 6]),
        MatchCase("\\p{Greek}+", [0xCE, 0xB1, 0xCE, 0xA9], whole: true, first: [0, 4]),
        MatchCase("\\PL", [0xE2, 0x98, 0xBA], whole: true, first: [0, 3]),
        MatchCase("\\p{^L}", [0x61], whole: false, first: nil),
        MatchCase("(?m)^$", [0x0D, 0x0A], whole: false, first: [2, 2]),
        MatchCase("(?m)a$", [0x61, 0x0D], whole: false, first: nil),
        MatchCase("\\b", [0xC3, 0xA9], whole: false, first: nil),
        MatchCase("\\w\\b", [0x61, 0xC3, 0xA9], whole: false, first: [0, 1]),
        MatchCase(".", [0xE2, 0x80, 0xA8], whole: true, first: [0, 3]),
        MatchCase(".", [0x0A], whole: false, first: nil),
        MatchCase("(?s).", [0x0A], whole: true, first: [0, 1]),
        MatchCase("[^a]", [0x0A], whole: true, first: [0, 1]),
        MatchCase("\\s", [0xC2, 0x85], whole: false, first: nil),
        MatchCase("\\s", [0x0B], whole: false, first: nil),
        MatchCase("[[:space:]]", [0x0B], whole: true, first: [0, 1]),
        MatchCase("(?U)(a+)(a*?)", [0x61, 0x61, 0x61], whole: true, first: [0, 3, 0, 1, 1, 3]),
        MatchCase("(?U)a+?", [0x61, 0x61, 0x61], whole: true, first: [0, 3]),
        MatchCase("\\Qa.b\\E+", [0x61, 0x2E, 0x62, 0x62], whole: true, first: [0, 4]),
        MatchCase("a{,3}", [0x61, 0x7B, 0x2C, 0x33, 0x7D], whole: true, first: [0, 5]),
        MatchCase("x{2}{", [0x78, 0x78, 0x7B], whole: true, first: [0, 3]),
        MatchCase("^*a", [0x61], whole: true, first: [0, 1]),
        MatchCase("a(?i)*", [0x61, 0x61, 0x61], whole: true, first: [0, 3]),
        MatchCase("[]a]+", [0x5D, 0x61], whole: true, first: [0, 2]),
        MatchCase("[a-]+", [0x2D, 0x61], whole: true, first: [0, 2]),
        MatchCase("\\Q", [], whole: true, first: [0, 0]),
        MatchCase("\\0\\08", [0x00, 0x00, 0x38], whole: true, first: [0, 3]),
        MatchCase("\\101\\x41\\x{41}", [0x41, 0x41, 0x41], whole: true, first: [0, 3]),
        MatchCase("[\\d\\pL]+", [0x37, 0xC3, 0xA9], whole: true, first: [0, 3]),
        MatchCase("(a*)*", [0x62], whole: false, first: [0, 0, 0, 0]),
        MatchCase("(a|ab)(c|bcd)(d*)", [0x61, 0x62, 0x63, 0x64], whole: true, first: [0, 4, 0, 1, 1, 4, 4, 4]),
        MatchCase("(?i)\u{1C4}", [0xC7, 0x85], whole: true, first: [0, 2]),
        MatchCase("(?i)\\x{212A}", [0x6B], whole: true, first: [0, 1]),
        MatchCase("(?i:a)a", [0x41, 0x41], whole: false, first: nil),
        MatchCase("(?i)(?-i)a", [0x41], whole: false, first: nil),
        MatchCase("(?P<n1>a)|b", [0x62], whole: true, first: [0, 1, -1, -1]),
        MatchCase("(?P<a>x)(?P<a>y)", [0x78, 0x79], whole: true, first: [0, 2, 0, 1, 1, 2]),
        MatchCase("[\\pL-z]+", [0x2D, 0xC3, 0xA9], whole: true, first: [0, 3]),
    ]

    static let errorCases: [ErrorCase] = [
        ErrorCase("x**", .invalidRepeatOp),
        ErrorCase("x{2}{3}", .invalidRepeatOp),
        ErrorCase("x*{2}", .invalidRepeatOp),
        ErrorCase("a{1001}", .invalidRepeatSize),
        ErrorCase("a{2,1}", .invalidRepeatSize),
        ErrorCase("(?:a{1000}){2}", .invalidRepeatSize),
        ErrorCase("((a{10}){10}){11}", .invalidRepeatSize),
        ErrorCase("*", .missingRepeatArgument),
        ErrorCase("(*)", .missingRepeatArgument),
        ErrorCase("a|*", .missingRepeatArgument),
        ErrorCase("\\8", .invalidEscape),
        ErrorCase("\\1", .invalidEscape),
        ErrorCase("\\x{110000}", .invalidEscape),
        ErrorCase("\\x{}", .invalidEscape),
        ErrorCase("\\xZ1", .invalidEscape),
        ErrorCase("\\Z", .invalidEscape),
        ErrorCase("\\C", .invalidEscape),
        ErrorCase("\\\u{E9}", .invalidEscape),
        ErrorCase("[z-a]", .invalidCharRange),
        ErrorCase("\\p{Foo}", .invalidCharRange),
        ErrorCase("\\p{L&}", .invalidCharRange),
        ErrorCase("[[:foo:]]", .invalidCharRange),
        ErrorCase("[a", .missingBracket),
        ErrorCase("[]", .missingBracket),
        ErrorCase("(a", .missingParen),
        ErrorCase("a)", .unexpectedParen),
        ErrorCase("a\\", .trailingBackslash),
        ErrorCase("(?P<>a)", .invalidNamedCapture),
        ErrorCase("(?P<n!>a)", .invalidNamedCapture),
        ErrorCase("(?P=a)", .invalidPerlOp),
        ErrorCase("(?i-)", .invalidPerlOp),
        ErrorCase("(?x)", .invalidPerlOp),
        ErrorCase("(?=a)", .invalidPerlOp),
        ErrorCase("(?#c)", .invalidPerlOp),
        ErrorCase("(?", .invalidPerlOp),
        ErrorCase("[a-\\d]", .invalidEscape),
        ErrorCase("(?P<a", .invalidNamedCapture),
        ErrorCase("x{2}*", .invalidRepeatOp),
        ErrorCase("\\Qa\\E**", .invalidRepeatOp),
        ErrorCase("(?i)(?i)**", .missingRepeatArgument),
    ]

    @Test("a pattern matches a value as Go's regexp does", arguments: matchCases)
    func matches(_ testCase: MatchCase) throws {
        let regex = try GoRegex(testCase.pattern)
        let whole = testCase.input.withUnsafeBufferPointer { regex.wholeMatch(bytes: $0) }
        let first = testCase.input.withUnsafeBufferPointer { regex.firstMatch(bytes: $0) }
        #expect(whole == testCase.whole)
        #expect(first == testCase.first)
    }

    @Test("a pattern Go refuses is refused with Go's error code", arguments: errorCases)
    func refuses(_ testCase: ErrorCase) {
        do throws(GoRegex.SyntaxError) {
            _ = try GoRegex(testCase.pattern)
            Issue.record("compiled, but Go refuses it with \(testCase.code.rawValue)")
        } catch {
            #expect(error.code == testCase.code)
        }
    }

    @Test("lookbehind, refused as a named capture (Go >= 1.22 syntax), still gets the lookaround hint")
    func lookbehindHint() {
        for pattern in ["(?<=a)b", "(?<!a)b"] {
            do throws(GoRegex.SyntaxError) {
                _ = try GoRegex(pattern)
                Issue.record("\(pattern) compiled")
            } catch {
                #expect(error.code == .invalidNamedCapture)
                #expect(error.description.contains("lookaround is not supported"))
            }
        }
    }
}
