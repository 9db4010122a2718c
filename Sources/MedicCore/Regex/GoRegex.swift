import Synchronization

/// A regular expression with Go's `regexp` syntax and semantics (RE2's), as Alertmanager and Prometheus
/// run it, matched in time linear in the input for every pattern: no backtracking, no timeouts, no
/// "gave up" answers. Values are compared as UTF-8 bytes decoded into code points, never by Unicode
/// canonical equivalence.
///
/// `GoRegex.alertmanager(v)` compiles a matcher's value as Alertmanager does, `^(?:v)$`, and `matches` is
/// Go's `MatchString`; both run on lazily built DFAs. `wholeMatch` is `\A(?:re)\z`. `firstMatch`
/// (leftmost-first search with submatches) runs Go's NFA simulation.
public struct GoRegex: Sendable, CustomStringConvertible {
    /// A pattern Go's `regexp.Compile` would refuse, with Go's message and where in the pattern.
    public struct SyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
        public enum Code: String, Sendable {
            case invalidCharClass = "invalid character class"
            case invalidCharRange = "invalid character class range"
            case invalidEscape = "invalid escape sequence"
            case invalidNamedCapture = "invalid named capture"
            case invalidPerlOp = "invalid or unsupported Perl syntax"
            case invalidRepeatOp = "invalid nested repetition operator"
            case invalidRepeatSize = "invalid repeat count"
            case missingBracket = "missing closing ]"
            case missingParen = "missing closing )"
            case missingRepeatArgument = "missing argument to repetition operator"
            case trailingBackslash = "trailing backslash at end of expression"
            case unexpectedParen = "unexpected )"
            case nestingDepth = "expression nests too deeply"
            case tooLarge = "expression too large"
        }

        public var code: Code
        /// The part of the pattern Go's error quotes.
        public var fragment: String
        /// Where the problem starts, in Unicode scalars from the start of the pattern (0-based).
        public var offset: Int
        /// Said after Go's message, such as how Alertmanager wraps a matcher's value.
        public var note: String?

        public init(code: Code, fragment: String, offset: Int, note: String? = nil) {
            self.code = code
            self.fragment = fragment
            self.offset = offset
            self.note = note
        }

        /// Go's wording (`missing closing ): `(a``), plus a hint for syntax other engines accept.
        public var description: String {
            var text = code.rawValue
            if !fragment.isEmpty { text += ": `\(fragment)`" }
            if let hint { text += " (\(hint))" }
            if let note { text += "; \(note)" }
            return text
        }

        var hint: String? {
            switch code {
            // `(?<=` and `(?<!` are refused as named captures (`(?<name>` syntax, as Go >= 1.22 does).
            case .invalidPerlOp where fragment.hasPrefix("(?=") || fragment.hasPrefix("(?!"),
                .invalidNamedCapture where fragment.hasPrefix("(?<=") || fragment.hasPrefix("(?<!"):
                return "lookaround is not supported: Go's regexp is RE2, which has none"
            case .invalidEscape where fragment.count == 2 && fragment.last!.isNumber:
                return "backreferences are not supported: Go's regexp is RE2, which has none"
            case .invalidRepeatOp where fragment.hasSuffix("+"):
                return "possessive quantifiers are not supported; in RE2 `x+` never backtracks anyway"
            case .invalidEscape where fragment == "\\C":
                return "`\\C` (any byte) is not supported, as in Go"
            case .invalidCharRange where fragment.hasPrefix("\\p") || fragment.hasPrefix("\\P"):
                return "Unicode classes are general categories (`\\pL`, `\\p{Lu}`) and scripts (`\\p{Greek}`), "
                    + "as of Unicode \(UnicodeTables.version)"
            case .tooLarge:
                return "more than \(RegexProgram.maxInstructions) instructions once counted repetitions are expanded"
            default:
                return nil
            }
        }
    }

    /// Everything compiled, behind one reference: a `GoRegex` is copied on every match (from an index entry,
    /// an optional), and one retain is cheaper than seven.
    private final class Core: Sendable {
        let pattern: String
        let captureCount: Int
        let captureNames: [String?]
        let program: RegexProgram
        let dfa: LazyDFA
        /// Go's `MatchString` (a match anywhere): the whole-value DFA when the pattern is anchored at both
        /// ends (`^(?:re)$`, every matcher), otherwise a DFA for `(?s:.*)(?:re)(?s:.*)`.
        let searchDFA: LazyDFA
        let literals: Literals?
        let literalAlternatives: [String]?
        /// The pattern is anchored at both ends, so a match anywhere is a whole-value match.
        let searchIsWhole: Bool

        init(_ pattern: String) throws(SyntaxError) {
            var parser = RegexParser(pattern)
            let node = try parser.parse()
            self.pattern = pattern
            captureCount = parser.captureCount
            captureNames = parser.captureNames
            program = try RegexProgram(node, captureCount: parser.captureCount)
            dfa = LazyDFA(program: program)
            let anchoredBody = GoRegex.anchoredBody(node)
            if anchoredBody != nil {
                searchDFA = dfa
            } else {
                let anything = RegexNode.star(.runes(.any), nonGreedy: false)
                searchDFA = LazyDFA(
                    program: try RegexProgram(.concat([anything, node, anything]), captureCount: parser.captureCount))
            }
            // Whole-value matching of `^(?:X)$` is whole-value matching of X.
            searchIsWhole = anchoredBody != nil
            if let words = GoRegex.literalAlternatives(anchoredBody ?? node) {
                let bytes = words.map { Array($0.utf8) }
                literals = bytes.count <= 16 ? .few(bytes) : .many(Set(bytes))
                literalAlternatives = words
            } else {
                literals = nil
                literalAlternatives = nil
            }
        }
    }

    private let core: Core

    /// The pattern is one literal or an alternation of literals (`warning|critical`): matched by comparing bytes.
    private enum Literals: Sendable {
        case few([[UInt8]])
        case many(Set<[UInt8]>)
    }

    public init(_ pattern: String) throws(SyntaxError) {
        core = try Core(pattern)
    }

    public var pattern: String { core.pattern }
    /// Number of capturing groups.
    public var captureCount: Int { core.captureCount }
    /// Group names by index (index 0 is the whole match).
    public var captureNames: [String?] { core.captureNames }
    var program: RegexProgram { core.program }
    var searchDFA: LazyDFA { core.searchDFA }

    public var description: String { pattern }

    /// When the pattern only ever matches a fixed list of whole values (`A|B|C`, `exact`), that list.
    public var literalAlternatives: [String]? { core.literalAlternatives }

    /// Whether the whole of `value` matches, as Alertmanager's `^(?:re)$`.
    public func wholeMatch(_ value: String) -> Bool {
        var value = value
        return value.withUTF8 { wholeMatch(bytes: $0) }
    }

    /// Whether the whole of `bytes` (UTF-8; an invalid byte reads as U+FFFD, as in Go) matches.
    public func wholeMatch(bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        switch core.literals {
        case .few(let words):
            return words.contains { $0.count == bytes.count && $0.elementsEqual(bytes) }
        case .many(let words):
            return words.contains(Array(bytes))
        case nil:
            return core.dfa.wholeMatch(bytes)
        }
    }

    /// Go's `MatchString`: whether the pattern matches anywhere in `value`. For `GoRegex.alertmanager(v)`,
    /// which is `^(?:v)$`, that is Alertmanager's answer for a `=~` matcher.
    public func matches(_ value: String) -> Bool {
        var value = value
        return value.withUTF8 { matches(bytes: $0) }
    }

    /// `matches` over UTF-8 bytes.
    public func matches(bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        core.searchIsWhole ? wholeMatch(bytes: bytes) : core.searchDFA.wholeMatch(bytes)
    }

    /// The leftmost-first match in `bytes` and its submatches, as Go's `FindSubmatchIndex`: byte offsets in
    /// pairs (start, end), group 0 first, -1 for a group that did not take part; nil when nothing matches.
    public func firstMatch(bytes: UnsafeBufferPointer<UInt8>) -> [Int]? {
        PikeVM(program: program).firstMatch(in: bytes)
    }

    /// `firstMatch` over a string's UTF-8.
    public func firstMatch(in value: String) -> [Int]? {
        var value = value
        return value.withUTF8 { firstMatch(bytes: $0) }
    }

    /// `X` when the pattern is `^X$` at its top level (`^(?:v)$` with a well-formed `v`).
    static func anchoredBody(_ node: RegexNode) -> RegexNode? {
        guard case .concat(let items) = node, items.count >= 2, case .assertion(.beginText) = items.first!,
            case .assertion(.endText) = items.last!
        else { return nil }
        let middle = Array(items.dropFirst().dropLast())
        switch middle.count {
        case 0: return .emptyMatch
        case 1: return middle[0]
        default: return .concat(middle)
        }
    }

    /// The strings a literal-only pattern matches, or nil. Case-folded literals are not literal, and neither
    /// is U+FFFD: an invalid byte in the value reads as U+FFFD (as in Go), so `\x{FFFD}` matches `"\x80"`,
    /// which comparing bytes would miss.
    static func literalAlternatives(_ node: RegexNode) -> [String]? {
        func word(_ node: RegexNode) -> String? {
            switch node {
            case .emptyMatch:
                return ""
            case .runes(let runeClass):
                guard runeClass.single != UTF8Decoding.replacement else { return nil }
                return runeClass.single.flatMap(Unicode.Scalar.init).map { String(Character($0)) }
            case .concat(let items):
                var text = String.UnicodeScalarView()
                for item in items {
                    guard case .runes(let runeClass) = item, let rune = runeClass.single,
                        rune != UTF8Decoding.replacement, let scalar = Unicode.Scalar(rune)
                    else { return nil }
                    text.append(scalar)
                }
                return String(text)
            default:
                return nil
            }
        }
        switch node {
        case .alternate(let branches):
            var words: [String] = []
            for branch in branches {
                guard let text = word(branch) else { return nil }
                words.append(text)
            }
            return words
        default:
            return word(node).map { [$0] }
        }
    }
}

extension GoRegex {
    /// Patterns compiled once per process, by their bytes (never by canonical equivalence), so that `when`
    /// expressions and param patterns, evaluated on every run, share one program and one warm DFA.
    private static let compiled = Mutex<[[UInt8]: Result<GoRegex, SyntaxError>]>([:])
    /// Distinct patterns kept; beyond that the cache starts over (patterns come from loaded runbooks).
    static let cacheLimit = 4_096

    /// `GoRegex(pattern)`, compiled once.
    public static func cached(_ pattern: String) throws(SyntaxError) -> GoRegex {
        try cached(key: Array(pattern.utf8)) { () throws(SyntaxError) in try GoRegex(pattern) }
    }

    /// A matcher's or a param pattern's value as Alertmanager compiles it: `^(?:value)$`, by text, so that a
    /// value such as `a)|(b` means what it means there (starts with `a` or ends with `b`) and `\Qx` is
    /// refused as it is there. Test it with `matches` (Go's `MatchString`). Compiled once.
    ///
    /// When the value alone is not a valid regex either, its own error is thrown, with positions in the
    /// value; when only the wrapped text fails, the error says so.
    public static func alertmanager(_ value: String) throws(SyntaxError) -> GoRegex {
        // 0xFF never occurs in UTF-8: this key cannot collide with a plain pattern's.
        try cached(key: [0xFF] + Array(value.utf8)) { () throws(SyntaxError) in
            do throws(SyntaxError) {
                return try GoRegex("^(?:" + value + ")$")
            } catch var wrapped {
                _ = try GoRegex(value)
                wrapped.offset = max(0, min(wrapped.offset - 4, value.unicodeScalars.count))
                wrapped.note = "as Alertmanager compiles it: ^(?:\(value))$"
                throw wrapped
            }
        }
    }

    private static func cached(key: [UInt8], _ compile: () throws(SyntaxError) -> GoRegex) throws(SyntaxError)
        -> GoRegex
    {
        if let known = compiled.withLock({ $0[key] }) { return try known.get() }
        let result: Result<GoRegex, SyntaxError>
        do throws(SyntaxError) {
            result = .success(try compile())
        } catch {
            result = .failure(error)
        }
        compiled.withLock { cache in
            if cache.count >= cacheLimit { cache.removeAll() }
            cache[key] = result
        }
        return try result.get()
    }
}
