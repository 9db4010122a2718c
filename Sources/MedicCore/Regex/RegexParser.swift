/// A parsed regular expression, in the shape of Go's `regexp/syntax.Regexp` (before simplification).
indirect enum RegexNode: Sendable {
    case noMatch
    case emptyMatch
    /// One code point, or a class; case folding is already expanded into the class.
    case runes(RuneClass)
    case assertion(EmptyWidth)
    case capture(index: Int, name: String?, RegexNode)
    case star(RegexNode, nonGreedy: Bool)
    case plus(RegexNode, nonGreedy: Bool)
    case quest(RegexNode, nonGreedy: Bool)
    /// `{min,max}`; max -1 means unbounded.
    case `repeat`(RegexNode, min: Int, max: Int, nonGreedy: Bool)
    case concat([RegexNode])
    case alternate([RegexNode])
}

/// Zero-width conditions, as Go's `syntax.EmptyOp` bits.
struct EmptyWidth: OptionSet, Hashable, Sendable {
    let rawValue: UInt8
    static let beginLine = EmptyWidth(rawValue: 1)
    static let endLine = EmptyWidth(rawValue: 2)
    static let beginText = EmptyWidth(rawValue: 4)
    static let endText = EmptyWidth(rawValue: 8)
    static let wordBoundary = EmptyWidth(rawValue: 16)
    static let noWordBoundary = EmptyWidth(rawValue: 32)

    static func isWordRune(_ rune: UInt32?) -> Bool {
        guard let rune else { return false }
        return (rune >= 0x30 && rune <= 0x39) || (rune >= 0x41 && rune <= 0x5A) || (rune >= 0x61 && rune <= 0x7A)
            || rune == 0x5F
    }

    /// The conditions that hold between `before` and `after` (nil: the edge of the text), as Go's
    /// `EmptyOpContext`.
    static func context(before: UInt32?, after: UInt32?) -> EmptyWidth {
        var op: EmptyWidth = .noWordBoundary
        var boundary = false
        if isWordRune(before) {
            boundary = true
        } else if before == 0x0A {
            op.insert(.beginLine)
        } else if before == nil {
            op.formUnion([.beginText, .beginLine])
        }
        if isWordRune(after) {
            boundary.toggle()
        } else if after == 0x0A {
            op.insert(.endLine)
        } else if after == nil {
            op.formUnion([.endText, .endLine])
        }
        if boundary { op.formSymmetricDifference([.wordBoundary, .noWordBoundary]) }
        return op
    }
}

/// Parses Go's `regexp` syntax (`regexp/syntax` with the `Perl` flags that `regexp.Compile` uses):
/// flags `i m s U`, Perl, POSIX and Unicode classes, named groups `(?P<n>…)` and `(?<n>…)`, `\Q…\E`,
/// repetition counts up to 1000. Errors carry Go's message and the position inside the pattern.
struct RegexParser {
    struct Flags: OptionSet {
        let rawValue: UInt8
        static let foldCase = Flags(rawValue: 1)
        static let multiLine = Flags(rawValue: 2)
        static let dotNewline = Flags(rawValue: 4)
        static let nonGreedy = Flags(rawValue: 8)
    }

    static let maxRepeat = 1000
    /// Nesting of groups. Go allows about 1,000; 250 keeps the recursive parser and compiler well inside a
    /// 512 KiB thread stack, and no real pattern comes near it.
    static let maxDepth = 250

    let scalars: [UInt32]
    var position = 0
    var flags: Flags = []
    var captureCount = 0
    var captureNames: [String?] = [nil]
    var depth = 0

    init(_ pattern: String) {
        scalars = pattern.unicodeScalars.map(\.value)
    }

    // MARK: Errors

    func fragment(_ from: Int, _ to: Int) -> String {
        let end = min(max(to, from), scalars.count)
        return String(String.UnicodeScalarView(scalars[from..<end].compactMap(Unicode.Scalar.init)))
    }

    func error(_ code: GoRegex.SyntaxError.Code, _ from: Int, _ to: Int) -> GoRegex.SyntaxError {
        GoRegex.SyntaxError(code: code, fragment: fragment(from, to), offset: from)
    }

    // MARK: Scanning

    var atEnd: Bool { position >= scalars.count }
    func peek(_ ahead: Int = 0) -> UInt32? {
        position + ahead < scalars.count ? scalars[position + ahead] : nil
    }
    func starts(with text: String, at index: Int) -> Bool {
        var offset = index
        for scalar in text.unicodeScalars {
            guard offset < scalars.count, scalars[offset] == scalar.value else { return false }
            offset += 1
        }
        return true
    }

    // MARK: Grammar

    mutating func parse() throws(GoRegex.SyntaxError) -> RegexNode {
        let node = try alternation(groupStart: nil)
        if !atEnd {
            // Only an unmatched `)` stops the top level early.
            throw GoRegex.SyntaxError(code: .unexpectedParen, fragment: fragment(0, scalars.count), offset: position)
        }
        return node
    }

    /// Branches separated by `|`, up to a `)` or the end. `groupStart` is the position of the `(` that
    /// opened this group, for the missing-paren error.
    mutating func alternation(groupStart: Int?) throws(GoRegex.SyntaxError) -> RegexNode {
        depth += 1
        defer { depth -= 1 }
        if depth > Self.maxDepth { throw error(.nestingDepth, 0, scalars.count) }
        var branches: [RegexNode] = [try concatenation()]
        while peek() == 0x7C {  // |
            position += 1
            branches.append(try concatenation())
        }
        if atEnd, let groupStart {
            throw GoRegex.SyntaxError(code: .missingParen, fragment: fragment(0, scalars.count), offset: groupStart)
        }
        return branches.count == 1 ? branches[0] : .alternate(branches)
    }

    mutating func concatenation() throws(GoRegex.SyntaxError) -> RegexNode {
        var items: [RegexNode] = []
        // The text of the previous repetition operator, when the previous token was one (`a**` is an error).
        var lastRepeat: Int?
        while let c = peek(), c != 0x7C, c != 0x29 {  // | )
            let start = position
            var isRepeat = false
            switch c {
            case 0x2A, 0x2B, 0x3F:  // * + ?
                position += 1
                let greedyFlip = peek() == 0x3F
                if greedyFlip { position += 1 }
                if let lastRepeat { throw error(.invalidRepeatOp, lastRepeat, position) }
                guard let last = items.popLast() else { throw error(.missingRepeatArgument, start, position) }
                let nonGreedy = flags.contains(.nonGreedy) != greedyFlip
                switch c {
                case 0x2A: items.append(.star(last, nonGreedy: nonGreedy))
                case 0x2B: items.append(.plus(last, nonGreedy: nonGreedy))
                default: items.append(.quest(last, nonGreedy: nonGreedy))
                }
                isRepeat = true
            case 0x7B:  // {
                guard let (min, max, end) = repeatCount(at: position) else {
                    position += 1
                    items.append(literal(c))
                    break
                }
                position = end
                if min < 0 || min > Self.maxRepeat || max > Self.maxRepeat || (max >= 0 && min > max) {
                    throw error(.invalidRepeatSize, start, position)
                }
                let greedyFlip = peek() == 0x3F
                if greedyFlip { position += 1 }
                if let lastRepeat { throw error(.invalidRepeatOp, lastRepeat, position) }
                guard let last = items.popLast() else { throw error(.missingRepeatArgument, start, position) }
                let node = RegexNode.repeat(
                    last, min: min, max: max, nonGreedy: flags.contains(.nonGreedy) != greedyFlip)
                if (min >= 2 || max >= 2) && !Self.repeatIsValid(node, Self.maxRepeat) {
                    throw error(.invalidRepeatSize, start, end)
                }
                items.append(node)
                isRepeat = true
            case 0x28:  // (
                if let group = try group() { items.append(group) }
            case 0x5B:  // [
                items.append(.runes(try characterClass()))
            case 0x5E:  // ^
                position += 1
                items.append(.assertion(flags.contains(.multiLine) ? .beginLine : .beginText))
            case 0x24:  // $
                position += 1
                items.append(.assertion(flags.contains(.multiLine) ? .endLine : .endText))
            case 0x2E:  // .
                position += 1
                items.append(.runes(flags.contains(.dotNewline) ? .any : .anyNotNewline))
            case 0x5C:  // \
                try escapeAtom(into: &items)
            default:
                position += 1
                items.append(literal(c))
            }
            lastRepeat = isRepeat ? start : nil
        }
        switch items.count {
        case 0: return .emptyMatch
        case 1: return items[0]
        default: return .concat(items)
        }
    }

    /// `(`: a capture, a named capture, a non-capturing group or a flag change (which yields nothing).
    mutating func group() throws(GoRegex.SyntaxError) -> RegexNode? {
        let start = position
        position += 1
        var name: String?
        if peek() == 0x3F {  // (?
            let namedP = peek(1) == 0x50 && peek(2) == 0x3C && position + 3 < scalars.count  // (?P<
            let namedAngle = peek(1) == 0x3C && position + 2 < scalars.count  // (?<
            if namedP || namedAngle {
                let nameStart = position + (namedP ? 3 : 2)
                guard let close = scalars[nameStart...].firstIndex(of: 0x3E) else {
                    throw error(.invalidNamedCapture, start, scalars.count)
                }
                let text = fragment(nameStart, close)
                let valid =
                    !text.isEmpty
                    && scalars[nameStart..<close].allSatisfy { EmptyWidth.isWordRune($0) }
                guard valid else { throw error(.invalidNamedCapture, start, close + 1) }
                position = close + 1
                name = text
            } else {
                return try flagGroup(start: start)
            }
        }
        captureCount += 1
        let index = captureCount
        captureNames.append(name)
        let saved = flags
        let body = try alternation(groupStart: start)
        position += 1  // )
        flags = saved
        return .capture(index: index, name: name, body)
    }

    /// `(?flags)` or `(?flags:...)`; `position` is just after `(`.
    mutating func flagGroup(start: Int) throws(GoRegex.SyntaxError) -> RegexNode? {
        position += 1  // ?
        var newFlags = flags
        var negate = false
        var sawFlag = false
        while let c = peek() {
            position += 1
            var flag: Flags?
            switch c {
            case 0x69: flag = .foldCase  // i
            case 0x6D: flag = .multiLine  // m
            case 0x73: flag = .dotNewline  // s
            case 0x55: flag = .nonGreedy  // U
            case 0x2D:  // -
                if negate { throw error(.invalidPerlOp, start, position) }
                negate = true
                sawFlag = false
                continue
            case 0x3A, 0x29:  // : )
                if negate && !sawFlag { throw error(.invalidPerlOp, start, position) }
                if c == 0x29 {
                    flags = newFlags
                    return nil
                }
                let saved = flags
                flags = newFlags
                let body = try alternation(groupStart: start)
                position += 1  // )
                flags = saved
                return body
            default:
                throw error(.invalidPerlOp, start, position)
            }
            if let flag {
                if negate { newFlags.remove(flag) } else { newFlags.insert(flag) }
                sawFlag = true
            }
        }
        throw error(.invalidPerlOp, start, position)
    }

    /// `{n}`, `{n,}` or `{n,m}` at `index`: (min, max or -1, end), min -1 when a number is too big; nil when
    /// the text is not a repetition (then `{` is a literal).
    func repeatCount(at index: Int) -> (Int, Int, Int)? {
        var cursor = index + 1
        func number() -> Int?? {
            guard cursor < scalars.count, scalars[cursor] >= 0x30, scalars[cursor] <= 0x39 else { return nil }
            if scalars[cursor] == 0x30, cursor + 1 < scalars.count, scalars[cursor + 1] >= 0x30,
                scalars[cursor + 1] <= 0x39
            {
                return nil  // no leading zeros
            }
            var value = 0
            var tooBig = false
            while cursor < scalars.count, scalars[cursor] >= 0x30, scalars[cursor] <= 0x39 {
                if value >= 100_000_000 { tooBig = true } else { value = value * 10 + Int(scalars[cursor] - 0x30) }
                cursor += 1
            }
            return .some(tooBig ? nil : value)
        }
        guard let first = number() else { return nil }
        var min = first ?? -1
        var max: Int
        guard cursor < scalars.count else { return nil }
        if scalars[cursor] != 0x2C {
            max = min
        } else {
            cursor += 1
            guard cursor < scalars.count else { return nil }
            if scalars[cursor] == 0x7D {
                max = -1
            } else {
                guard let second = number() else { return nil }
                if let second { max = second } else {
                    max = 0
                    min = -1
                }
            }
        }
        guard cursor < scalars.count, scalars[cursor] == 0x7D else { return nil }
        return (min, max, cursor + 1)
    }

    /// Go's `repeatIsValid`: nested counts may not make more than `n` copies of the innermost thing.
    static func repeatIsValid(_ node: RegexNode, _ n: Int) -> Bool {
        var n = n
        switch node {
        case .repeat(let sub, let min, let max, _):
            var m = max
            if m == 0 { return true }
            if m < 0 { m = min }
            if m > n { return false }
            if m > 0 { n /= m }
            return repeatIsValid(sub, n)
        case .capture(_, _, let sub), .star(let sub, _), .plus(let sub, _), .quest(let sub, _):
            return repeatIsValid(sub, n)
        case .concat(let subs), .alternate(let subs):
            return subs.allSatisfy { repeatIsValid($0, n) }
        default:
            return true
        }
    }

    func literal(_ rune: UInt32) -> RegexNode {
        if flags.contains(.foldCase) {
            let orbit = CaseFolding.orbit(of: rune)
            if !orbit.isEmpty {
                return .runes(RuneClass(pairs: ([rune] + orbit).flatMap { [$0, $0] }))
            }
        }
        return .runes(RuneClass(pairs: [rune, rune]))
    }

    // MARK: Escapes

    /// `\` outside a class: an assertion, `\Q…\E`, a class escape or a single character.
    mutating func escapeAtom(into items: inout [RegexNode]) throws(GoRegex.SyntaxError) {
        let start = position
        switch peek(1) {
        case 0x41:  // \A
            position += 2
            items.append(.assertion(.beginText))
            return
        case 0x62:  // \b
            position += 2
            items.append(.assertion(.wordBoundary))
            return
        case 0x42:  // \B
            position += 2
            items.append(.assertion(.noWordBoundary))
            return
        case 0x43:  // \C: any byte; Go refuses it
            throw error(.invalidEscape, start, start + 2)
        case 0x51:  // \Q ... \E
            position += 2
            while !atEnd {
                if peek() == 0x5C, peek(1) == 0x45 {
                    position += 2
                    return
                }
                items.append(literal(scalars[position]))
                position += 1
            }
            return
        case 0x7A:  // \z
            position += 2
            items.append(.assertion(.endText))
            return
        default:
            break
        }
        if let unicodeClass = try unicodeClassEscape() {
            items.append(.runes(unicodeClass))
            return
        }
        if let perlClass = perlClassEscape() {
            items.append(.runes(perlClass))
            return
        }
        items.append(literal(try escape()))
    }

    /// A single-character escape (`\n`, `\x41`, `\x{263a}`, `\101`, `\.`); `position` is at `\`.
    mutating func escape() throws(GoRegex.SyntaxError) -> UInt32 {
        let start = position
        position += 1
        guard let c = peek() else { throw error(.trailingBackslash, start, start + 1) }
        position += 1
        func invalid() -> GoRegex.SyntaxError { error(.invalidEscape, start, position) }
        func isOctal(_ value: UInt32?) -> Bool { value.map { $0 >= 0x30 && $0 <= 0x37 } ?? false }
        switch c {
        case 0x31...0x37 where isOctal(peek()), 0x30:
            // Octal: up to three digits (a lone \1-\7 would be a backreference, which Go refuses).
            var value = c - 0x30
            for _ in 1..<3 {
                guard isOctal(peek()) else { break }
                value = value * 8 + (peek()! - 0x30)
                position += 1
            }
            return value
        case 0x78:  // x
            guard let first = peek() else { throw invalid() }
            position += 1
            if first == 0x7B {  // {
                var value: UInt32 = 0
                var digits = 0
                while true {
                    guard let d = peek() else { throw invalid() }
                    position += 1
                    if d == 0x7D { break }
                    guard let v = Self.hexValue(d) else { throw invalid() }
                    value = value * 16 + v
                    if value > RuneClass.maxRune { throw invalid() }
                    digits += 1
                }
                guard digits > 0 else { throw invalid() }
                return value
            }
            guard let second = peek() else { throw invalid() }
            position += 1
            guard let x = Self.hexValue(first), let y = Self.hexValue(second) else { throw invalid() }
            return x * 16 + y
        case 0x61: return 0x07  // \a
        case 0x66: return 0x0C  // \f
        case 0x6E: return 0x0A  // \n
        case 0x72: return 0x0D  // \r
        case 0x74: return 0x09  // \t
        case 0x76: return 0x0B  // \v
        default:
            // Escaped ASCII punctuation is itself; an escaped letter or digit Go does not know is an error.
            if c < 0x80, !Self.isAlphanumeric(c) { return c }
            throw invalid()
        }
    }

    static func hexValue(_ c: UInt32) -> UInt32? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }

    static func isAlphanumeric(_ c: UInt32) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }

    /// `\d \D \s \S \w \W`, folded under `(?i)` like Go (which matters only for the negated forms).
    mutating func perlClassEscape() -> RuneClass? {
        guard peek() == 0x5C, let letter = peek(1), let (negated, base) = NamedClasses.perl[letter] else { return nil }
        position += 2
        return group(base, negated: negated)
    }

    func group(_ base: RuneClass, negated: Bool) -> RuneClass {
        let folded = flags.contains(.foldCase) ? base.caseFolded() : base
        return negated ? folded.negated() : folded
    }

    /// `\pL`, `\p{Greek}`, `\P{Lu}`, `\p{^L}`; nil when not at `\p`/`\P`.
    mutating func unicodeClassEscape() throws(GoRegex.SyntaxError) -> RuneClass? {
        guard peek() == 0x5C, let letter = peek(1), letter == 0x70 || letter == 0x50 else { return nil }
        let start = position
        var negated = letter == 0x50
        var name: String
        guard let first = peek(2) else { throw error(.invalidCharRange, start, scalars.count) }
        if first != 0x7B {
            name = fragment(start + 2, start + 3)
            position = start + 3
        } else {
            guard let close = scalars[start...].firstIndex(of: 0x7D) else {
                throw error(.invalidCharRange, start, scalars.count)
            }
            name = fragment(start + 3, close)
            position = close + 1
        }
        if name.hasPrefix("^") {
            negated.toggle()
            name.removeFirst()
        }
        guard let (table, fold) = NamedClasses.unicode(name) else {
            throw error(.invalidCharRange, start, position)
        }
        var result = table
        if flags.contains(.foldCase), let fold { result = table.union(fold) }
        return negated ? result.negated() : result
    }

    // MARK: Classes

    /// `[...]`, `[^...]` with ranges, escapes, `[:alpha:]`, `\d`, `\pL`; `position` is at `[`.
    mutating func characterClass() throws(GoRegex.SyntaxError) -> RuneClass {
        let start = position
        position += 1
        var negated = false
        if peek() == 0x5E {
            negated = true
            position += 1
        }
        var pairs: [UInt32] = []
        var first = true
        while first || peek() != 0x5D {
            guard !atEnd else { throw error(.missingBracket, start, scalars.count) }
            first = false
            // POSIX [:alpha:] / [:^alpha:]
            if peek() == 0x5B, peek(1) == 0x3A, position + 2 < scalars.count {
                if let close = Self.find([0x3A, 0x5D], in: scalars, from: position + 2) {
                    var name = fragment(position + 2, close)
                    let whole = (position, close + 2)
                    var posixNegated = false
                    if name.hasPrefix("^") {
                        posixNegated = true
                        name.removeFirst()
                    }
                    guard let base = NamedClasses.posix[name] else {
                        throw error(.invalidCharRange, whole.0, whole.1)
                    }
                    pairs += group(base, negated: posixNegated).ranges
                    position = close + 2
                    continue
                }
            }
            if let unicodeClass = try unicodeClassEscape() {
                pairs += unicodeClass.ranges
                continue
            }
            if let perl = perlClassEscape() {
                pairs += perl.ranges
                continue
            }
            let rangeStart = position
            let lo = try classCharacter(classStart: start)
            var hi = lo
            if peek() == 0x2D, let after = peek(1), after != 0x5D {  // a-b, but [a-] is a and -
                position += 1
                hi = try classCharacter(classStart: start)
                if hi < lo { throw error(.invalidCharRange, rangeStart, position) }
            }
            pairs.append(lo)
            pairs.append(hi)
            if flags.contains(.foldCase) { CaseFolding.appendFolded(lo: lo, hi: hi, to: &pairs) }
        }
        position += 1  // ]
        let result = RuneClass(pairs: pairs)
        return negated ? result.negated() : result
    }

    mutating func classCharacter(classStart: Int) throws(GoRegex.SyntaxError) -> UInt32 {
        guard let c = peek() else { throw error(.missingBracket, classStart, scalars.count) }
        if c == 0x5C { return try escape() }
        position += 1
        return c
    }

    static func find(_ needle: [UInt32], in haystack: [UInt32], from: Int) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var index = from
        while index + needle.count <= haystack.count {
            if haystack[index] == needle[0] && haystack[index + 1] == needle[1] { return index }
            index += 1
        }
        return nil
    }
}
