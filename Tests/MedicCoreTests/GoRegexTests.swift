import Foundation
import Testing

@testable import MedicCore

/// Medic's regex engine against Go's own test vectors and the differences the issue lists between ICU
/// (`NSRegularExpression`, used before) and Go's `regexp`.
@Suite struct GoRegexTests {
    static let vectors = Fixtures.packageRoot.deletingLastPathComponent().appendingPathComponent(
        "shared/fixtures/go-regexp")

    @Test("every case of Go's re2-search.txt: search and full match, with submatches")
    func re2Search() async throws {
        let text = try String(contentsOf: Self.vectors.appendingPathComponent("re2-search.txt"), encoding: .utf8)
        let outcome = try await offCooperativePool { GoRegexVectors.run(text) }
        #expect(outcome.failures.isEmpty, "\(outcome.failures.prefix(20).joined(separator: "\n"))")
        #expect(outcome.cases == 1_888)
        // Only what Go's own test skips: \C patterns and \B on multi-byte input.
        #expect(outcome.skipped == 84)
    }

    @Test("a sample of Go's re2-exhaustive.txt (all of it runs in scripts/regex-vectors.sh)")
    func re2ExhaustiveSample() async throws {
        // Through a file: Foundation reads a 59 MB pipe slowly.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("re2-exhaustive-\(UUID()).txt")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        let compressed = Self.vectors.appendingPathComponent("re2-exhaustive.txt.bz2").path
        process.arguments = ["-c", "bzcat \"$1\" > \"$2\"", "sh", compressed, scratch.path]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "bzcat failed")
        let data = try Data(contentsOf: scratch)
        // One block of inputs in 1,000 (a debug build is slow): every group of patterns is still visited.
        let outcome = try await offCooperativePool { GoRegexVectors.run(bytes: [UInt8](data), every: 1_000) }
        #expect(outcome.failures.isEmpty, "\(outcome.failures.prefix(20).joined(separator: "\n"))")
        #expect(outcome.cases > 4_000)
    }

    @Test(
        "Go's semantics where ICU differed",
        arguments: [
            // `.` excludes only \n.
            (".*-canary", "db1\r-canary", true), (".*-canary", "db1\u{85}-canary", true),
            (".*-canary", "db1\u{2028}-canary", true), (".*-canary", "db1\u{2029}-canary", true),
            (".*-canary", "db1\n-canary", false), ("(?s).*-canary", "db1\n-canary", true),
            // `$` is the end of the text, not before a final newline.
            ("critical$", "critical\n", false), ("(?m)critical$", "critical\n", false),
            // ASCII Perl classes.
            ("\\d+", "١٢٣", false), ("\\w+", "naïve", false), ("\\s", "\u{A0}", false),
            ("\\pN+", "١٢٣", true), ("\\pL+", "naïve", true),
            // Simple case folding.
            ("(?i)ß", "SS", false), ("(?i)ß", "ẞ", true), ("(?i)k", "\u{212A}", true), ("(?i)s", "ſ", true),
            // Bytes, not canonical equivalence.
            ("é", "e\u{301}", false), ("K", "\u{212A}", false), ("warning|critical", "warning\u{301}", false),
            // RE2 syntax ICU refused.
            ("(?P<sev>crit)ical", "critical", true), ("(?<sev>crit)ical", "critical", true),
            ("(?U)a+", "aaa", true), ("[[]", "[", true), ("\\pN", "7", true), ("\\p{Greek}+", "αβγ", true),
            ("\\Qa.b\\E", "a.b", true), ("\\Qa.b\\E", "axb", false), ("x{2}{", "xx{", true),
        ])
    func semantics(_ pattern: String, _ value: String, _ expected: Bool) throws {
        let regex = try GoRegex(pattern)
        #expect(regex.wholeMatch(value) == expected, "\(pattern) against \(value.debugDescription)")
        // The NFA simulation agrees with the DFA (anchored at both ends).
        let anchored = try GoRegex("\\A(?:" + pattern + ")\\z")
        #expect((anchored.firstMatch(in: value) != nil) == expected)
    }

    @Test(
        "what Go refuses is refused, with Go's message and the position in the pattern",
        arguments: [
            ("(a)\\1", GoRegex.SyntaxError.Code.invalidEscape, 3),  // backreference
            ("foo(?=bar)", .invalidPerlOp, 3), ("(?!x)", .invalidPerlOp, 0), ("(?<=a)b", .invalidNamedCapture, 0),
            ("a++", .invalidRepeatOp, 1), ("a**", .invalidRepeatOp, 1), ("(?>a)", .invalidPerlOp, 0),
            ("db-(\\d+", .missingParen, 3), ("a)", .unexpectedParen, 1), ("[a-z", .missingBracket, 0),
            ("[z-a]", .invalidCharRange, 1), ("\\p{Klingon}", .invalidCharRange, 0), ("*a", .missingRepeatArgument, 0),
            ("a{1001}", .invalidRepeatSize, 1), ("(a{100}){100}", .invalidRepeatSize, 8), ("x\\", .trailingBackslash, 1),
            ("\\C", .invalidEscape, 0), ("\\q", .invalidEscape, 0), ("(?P<x-y>a)", .invalidNamedCapture, 0),
            ("[[:foo:]]", .invalidCharRange, 1), ("(?i", .invalidPerlOp, 0), ("(?-)", .invalidPerlOp, 0),
        ])
    func refused(_ pattern: String, _ code: GoRegex.SyntaxError.Code, _ offset: Int) {
        #expect(throws: GoRegex.SyntaxError.self) { try GoRegex(pattern) }
        do {
            _ = try GoRegex(pattern)
        } catch {
            #expect(error.code == code, "\(pattern): \(error)")
            #expect(error.offset == offset, "\(pattern): \(error)")
        }
    }

    @Test(
        "patterns that backtrack catastrophically elsewhere decide 100 KiB hostile values correctly",
        arguments: [
            ("(a+)+$", String(repeating: "a", count: 102_400) + "b", false),
            ("(a+)+$", String(repeating: "a", count: 102_400), true),
            ("(.|\\s)*y|.*x", String(repeating: " ", count: 102_400), false),
            ("(.|\\s)*y|.*x", String(repeating: " ", count: 102_400) + "x", true),
            ("(x+x+)+y", String(repeating: "x", count: 102_400), false),
            ("(\\w+\\s?)*$", String(repeating: "word ", count: 20_480) + "!", false),
            ("(a|aa)*c", String(repeating: "a", count: 102_400), false),
            ("(a*)*b", String(repeating: "a", count: 102_400) + "b", true),
        ])
    func hostile(_ pattern: String, _ value: String, _ expected: Bool) async throws {
        let (whole, negated) = try await offCooperativePool {
            let regex = try GoRegex(pattern)
            // A `!~` matcher on it is the exact negation: no "gave up, so no match".
            let matcher = LabelMatcher(name: "v", op: .regexNoMatch, value: pattern)
            return (regex.wholeMatch(value), matcher.matches(["v": value]))
        }
        #expect(whole == expected)
        #expect(negated == !expected)
    }

    @Test("a DFA that outgrows its cache starts over and still answers correctly")
    func cacheOverflow() throws {
        // (a|b)*a(a|b){12} needs 2^13 states for all inputs; random-ish text visits thousands of them.
        let regex = try GoRegex("(a|b)*a(a|b){12}")
        var text = ""
        var seed: UInt64 = 42
        for _ in 0..<50_000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            text.append(seed >> 33 & 1 == 0 ? "a" : "b")
        }
        let thirteenthFromEnd = Array(text.utf8)[text.utf8.count - 13]
        #expect(regex.wholeMatch(text) == (thirteenthFromEnd == UInt8(ascii: "a")))
        #expect(regex.wholeMatch(text + "a" + String(repeating: "b", count: 12)))
        #expect(!regex.wholeMatch(text + "b" + String(repeating: "b", count: 12)))
    }

    @Test("literal alternations are recognised, and only exact ones")
    func literals() throws {
        #expect(try GoRegex("warning|critical").literalAlternatives == ["warning", "critical"])
        #expect(try GoRegex("Disk").literalAlternatives == ["Disk"])
        #expect(try GoRegex("a|").literalAlternatives == ["a", ""])
        #expect(try GoRegex("(?i)disk").literalAlternatives == nil)
        #expect(try GoRegex("disk.*").literalAlternatives == nil)
        #expect(try GoRegex("(warning)").literalAlternatives == nil)
        let many = (0..<40).map { "Alert\($0)" }
        let regex = try GoRegex(many.joined(separator: "|"))
        #expect(regex.wholeMatch("Alert39") && !regex.wholeMatch("Alert40") && !regex.wholeMatch("Alert"))
    }

    @Test("no NSRegularExpression is left in Sources")
    func noICU() throws {
        let sources = Fixtures.packageRoot.appendingPathComponent("Sources")
        let files = FileManager.default.enumerator(atPath: sources.path)?.compactMap { $0 as? String } ?? []
        #expect(files.count > 50)
        for file in files where file.hasSuffix(".swift") {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            #expect(!text.contains("NSRegular" + "Expression"), "\(file)")
        }
    }
}
