/// A set of Unicode code points as sorted, non-overlapping, non-adjacent closed ranges: what one
/// character class (`[a-z]`, `\d`, `\pL`, `.`) matches. Built the way Go's `regexp/syntax` builds it.
struct RuneClass: Hashable, Sendable {
    static let maxRune: UInt32 = 0x10FFFF

    /// Flattened pairs: `ranges[2*i] ... ranges[2*i+1]`.
    private(set) var ranges: [UInt32] = []
    /// Bit per ASCII code point, for the common case.
    private(set) var ascii: (UInt64, UInt64) = (0, 0)

    static func == (a: RuneClass, b: RuneClass) -> Bool { a.ranges == b.ranges }
    func hash(into hasher: inout Hasher) { hasher.combine(ranges) }

    init() {}

    /// From unsorted, possibly overlapping pairs.
    init(pairs: [UInt32]) {
        var list: [(UInt32, UInt32)] = []
        list.reserveCapacity(pairs.count / 2)
        var index = 0
        while index + 1 < pairs.count {
            list.append((pairs[index], pairs[index + 1]))
            index += 2
        }
        list.sort { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 > $1.1) }
        var merged: [UInt32] = []
        for (lo, hi) in list {
            if let last = merged.last, lo <= last &+ 1 {
                if hi > last { merged[merged.count - 1] = hi }
            } else {
                merged.append(lo)
                merged.append(hi)
            }
        }
        ranges = merged
        computeASCII()
    }

    static let any = RuneClass(pairs: [0, maxRune])
    static let anyNotNewline = RuneClass(pairs: [0, 0x09, 0x0B, maxRune])

    private mutating func computeASCII() {
        var low: UInt64 = 0
        var high: UInt64 = 0
        var index = 0
        while index < ranges.count, ranges[index] < 128 {
            let lo = ranges[index]
            let hi = min(ranges[index + 1], 127)
            for rune in lo...hi {
                if rune < 64 { low |= 1 << UInt64(rune) } else { high |= 1 << UInt64(rune - 64) }
            }
            index += 2
        }
        ascii = (low, high)
    }

    var isEmpty: Bool { ranges.isEmpty }
    var rangeCount: Int { ranges.count / 2 }

    /// The single code point this class holds, if it holds exactly one.
    var single: UInt32? { ranges.count == 2 && ranges[0] == ranges[1] ? ranges[0] : nil }

    @inline(__always)
    func contains(_ rune: UInt32) -> Bool {
        if rune < 64 { return ascii.0 & (1 << UInt64(rune)) != 0 }
        if rune < 128 { return ascii.1 & (1 << UInt64(rune - 64)) != 0 }
        // Binary search over the pairs.
        var low = 0
        var high = ranges.count / 2
        while low < high {
            let middle = (low + high) / 2
            if ranges[2 * middle + 1] < rune {
                low = middle + 1
            } else if ranges[2 * middle] > rune {
                high = middle
            } else {
                return true
            }
        }
        return false
    }

    func negated() -> RuneClass {
        var pairs: [UInt32] = []
        var next: UInt32 = 0
        var index = 0
        while index < ranges.count {
            if ranges[index] > next {
                pairs.append(next)
                pairs.append(ranges[index] - 1)
            }
            next = ranges[index + 1] &+ 1
            index += 2
        }
        if next <= Self.maxRune, !(ranges.last == Self.maxRune) {
            pairs.append(next)
            pairs.append(Self.maxRune)
        }
        return RuneClass(pairs: pairs)
    }

    func union(_ other: RuneClass) -> RuneClass { RuneClass(pairs: ranges + other.ranges) }

    /// Every code point of the class together with its case-folding orbit (Go's `appendFoldedClass`).
    func caseFolded() -> RuneClass {
        var pairs = ranges
        var index = 0
        while index < ranges.count {
            CaseFolding.appendFolded(lo: ranges[index], hi: ranges[index + 1], to: &pairs)
            index += 2
        }
        return RuneClass(pairs: pairs)
    }

    /// The pairs, for iteration.
    var pairs: [(lo: UInt32, hi: UInt32)] {
        stride(from: 0, to: ranges.count, by: 2).map { (ranges[$0], ranges[$0 + 1]) }
    }
}

/// Go's simple case folding (`unicode.SimpleFold`), from the generated tables.
enum CaseFolding {
    /// rune -> next rune of its orbit.
    static let next: [UInt32: UInt32] = {
        var table: [UInt32: UInt32] = [:]
        for pair in UnicodeTables.simpleFold.split(separator: ",") {
            let parts = pair.split(separator: ":")
            table[UInt32(parts[0], radix: 16)!] = UInt32(parts[1], radix: 16)!
        }
        return table
    }()
    /// The smallest and largest runes that fold to something else (Go's minFold/maxFold).
    static let bounds: (UInt32, UInt32) = (next.keys.min() ?? 0, next.keys.max() ?? 0)

    /// The other members of `rune`'s orbit (empty when it folds only to itself).
    static func orbit(of rune: UInt32) -> [UInt32] {
        guard var current = next[rune] else { return [] }
        var members: [UInt32] = []
        while current != rune {
            members.append(current)
            guard let following = next[current] else { break }
            current = following
        }
        return members
    }

    /// Appends the orbits of `lo...hi` as pairs (the range itself is the caller's).
    static func appendFolded(lo: UInt32, hi: UInt32, to pairs: inout [UInt32]) {
        // A range that covers every folding rune is closed under folding already.
        if lo <= bounds.0 && hi >= bounds.1 { return }
        let from = max(lo, bounds.0)
        let to = min(hi, bounds.1)
        guard from <= to else { return }
        for rune in from...to {
            for member in orbit(of: rune) where member < lo || member > hi {
                pairs.append(member)
                pairs.append(member)
            }
        }
    }
}

/// Named classes: Perl (`\d`), POSIX (`[:alpha:]`) and Unicode (`\pL`, `\p{Greek}`), as Go defines them.
enum NamedClasses {
    static let perl: [UInt32: (negated: Bool, RuneClass)] = {
        let digit = RuneClass(pairs: [0x30, 0x39])
        let space = RuneClass(pairs: [0x09, 0x0A, 0x0C, 0x0D, 0x20, 0x20])
        let word = RuneClass(pairs: [0x30, 0x39, 0x41, 0x5A, 0x5F, 0x5F, 0x61, 0x7A])
        return [
            0x64: (false, digit), 0x44: (true, digit),  // d D
            0x73: (false, space), 0x53: (true, space),  // s S
            0x77: (false, word), 0x57: (true, word),  // w W
        ]
    }()

    static let posix: [String: RuneClass] = [
        "alnum": RuneClass(pairs: [0x30, 0x39, 0x41, 0x5A, 0x61, 0x7A]),
        "alpha": RuneClass(pairs: [0x41, 0x5A, 0x61, 0x7A]),
        "ascii": RuneClass(pairs: [0x00, 0x7F]),
        "blank": RuneClass(pairs: [0x09, 0x09, 0x20, 0x20]),
        "cntrl": RuneClass(pairs: [0x00, 0x1F, 0x7F, 0x7F]),
        "digit": RuneClass(pairs: [0x30, 0x39]),
        "graph": RuneClass(pairs: [0x21, 0x7E]),
        "lower": RuneClass(pairs: [0x61, 0x7A]),
        "print": RuneClass(pairs: [0x20, 0x7E]),
        "punct": RuneClass(pairs: [0x21, 0x2F, 0x3A, 0x40, 0x5B, 0x60, 0x7B, 0x7E]),
        "space": RuneClass(pairs: [0x09, 0x0D, 0x20, 0x20]),
        "upper": RuneClass(pairs: [0x41, 0x5A]),
        "word": RuneClass(pairs: [0x30, 0x39, 0x41, 0x5A, 0x5F, 0x5F, 0x61, 0x7A]),
        "xdigit": RuneClass(pairs: [0x30, 0x39, 0x41, 0x46, 0x61, 0x66]),
    ]

    /// Whether `name` is a general category (`L`, `Nd`) or a script (`Greek`), and its table and extra
    /// fold-equivalent code points, as Go's `unicodeTable`. `Any` is every code point.
    static func unicode(_ name: String) -> (RuneClass, fold: RuneClass?)? {
        if name == "Any" { return (.any, .any) }
        if let table = UnicodeTables.categories[name] {
            return (decode(table), UnicodeTables.foldCategories[name].map(decode))
        }
        if let table = UnicodeTables.scripts[name] {
            return (decode(table), UnicodeTables.foldScripts[name].map(decode))
        }
        return nil
    }

    private static func decode(_ text: String) -> RuneClass {
        var pairs: [UInt32] = []
        for item in text.split(separator: ",") {
            let strideParts = item.split(separator: "/")
            let bounds = strideParts[0].split(separator: "-")
            let lo = UInt32(bounds[0], radix: 16)!
            let hi = bounds.count > 1 ? UInt32(bounds[1], radix: 16)! : lo
            let step = strideParts.count > 1 ? UInt32(strideParts[1], radix: 16)! : 1
            if step == 1 {
                pairs.append(lo)
                pairs.append(hi)
            } else {
                for rune in stride(from: lo, through: hi, by: Int(step)) {
                    pairs.append(rune)
                    pairs.append(rune)
                }
            }
        }
        return RuneClass(pairs: pairs)
    }
}

/// UTF-8 decoding as Go's `utf8.DecodeRune`: an invalid or truncated sequence is U+FFFD, one byte wide.
enum UTF8Decoding {
    static let replacement: UInt32 = 0xFFFD

    @inline(__always)
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> (rune: UInt32, width: Int) {
        let b0 = bytes[index]
        if b0 < 0x80 { return (UInt32(b0), 1) }
        let count = bytes.count
        func continuation(_ offset: Int) -> UInt32? {
            guard index + offset < count else { return nil }
            let byte = bytes[index + offset]
            return byte & 0xC0 == 0x80 ? UInt32(byte & 0x3F) : nil
        }
        if b0 >= 0xC2 && b0 <= 0xDF {
            guard let c1 = continuation(1) else { return (replacement, 1) }
            return (UInt32(b0 & 0x1F) << 6 | c1, 2)
        }
        if b0 >= 0xE0 && b0 <= 0xEF {
            guard let c1 = continuation(1), let c2 = continuation(2) else { return (replacement, 1) }
            let rune = UInt32(b0 & 0x0F) << 12 | c1 << 6 | c2
            if rune < 0x800 || (rune >= 0xD800 && rune <= 0xDFFF) { return (replacement, 1) }
            return (rune, 3)
        }
        if b0 >= 0xF0 && b0 <= 0xF4 {
            guard let c1 = continuation(1), let c2 = continuation(2), let c3 = continuation(3) else {
                return (replacement, 1)
            }
            let rune = UInt32(b0 & 0x07) << 18 | c1 << 12 | c2 << 6 | c3
            if rune < 0x10000 || rune > 0x10FFFF { return (replacement, 1) }
            return (rune, 4)
        }
        return (replacement, 1)
    }
}
