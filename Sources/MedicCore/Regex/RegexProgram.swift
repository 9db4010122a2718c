/// A compiled regular expression: Go's `regexp/syntax.Prog`, instruction for instruction, so that the
/// simulation below picks the same match and the same submatches as Go's.
struct RegexProgram: @unchecked Sendable {
    enum Op: UInt8, Sendable {
        case fail, match, rune, alt, emptyWidth, capture, nop
    }

    struct Inst: Sendable {
        var op: Op
        var out: Int32 = 0
        /// alt: the second choice; emptyWidth: the condition bits; capture: the slot; rune: the class index.
        var arg: Int32 = 0
    }

    var insts: [Inst]
    var classes: [RuneClass]
    var start: Int
    /// Capture slots, two per group, group 0 (the whole match) included.
    var slots: Int
    /// Whether any instruction tests an empty-width condition (`^`, `$`, `\b`, ...).
    var hasEmptyWidth: Bool
    /// Per class, its ASCII members as two bit sets: the hot check, without touching the class itself.
    var classASCII: [(UInt64, UInt64)]

    static let maxInstructions = 250_000

    init(_ node: RegexNode, captureCount: Int) throws(GoRegex.SyntaxError) {
        var compiler = Compiler()
        compiler.insts.append(Inst(op: .fail))
        let simplified = RegexProgram.simplify(node)
        let fragment = try compiler.compile(simplified)
        let match = compiler.emit(Inst(op: .match))
        compiler.patch(fragment.holes, to: match)
        insts = compiler.insts
        classes = compiler.classes
        start = Int(fragment.start)
        slots = 2 * (captureCount + 1)
        hasEmptyWidth = insts.contains { $0.op == .emptyWidth }
        classASCII = classes.map(\.ascii)
    }

    // MARK: Simplify (Go's Regexp.Simplify: counted repetitions become copies)

    static func simplify(_ node: RegexNode) -> RegexNode {
        switch node {
        case .capture(let index, let name, let sub):
            return .capture(index: index, name: name, simplify(sub))
        case .concat(let subs):
            return .concat(subs.map(simplify))
        case .alternate(let subs):
            return .alternate(subs.map(simplify))
        case .star(let sub, let nonGreedy):
            return simplify1(.star, nonGreedy, simplify(sub))
        case .plus(let sub, let nonGreedy):
            return simplify1(.plus, nonGreedy, simplify(sub))
        case .quest(let sub, let nonGreedy):
            return simplify1(.quest, nonGreedy, simplify(sub))
        case .repeat(let sub, let min, let max, let nonGreedy):
            // Expanded while compiling (`Compiler.repetition`), in a loop: `x{0,1000}` as nested nodes would
            // be 1,000 levels of recursion.
            return .repeat(simplify(sub), min: min, max: max, nonGreedy: nonGreedy)
        default:
            return node
        }
    }

    enum Repetition { case star, plus, quest }

    /// `x**` is `x*`, and so on; a repeated empty match is an empty match.
    static func simplify1(_ kind: Repetition, _ nonGreedy: Bool, _ sub: RegexNode) -> RegexNode {
        if case .emptyMatch = sub { return sub }
        switch (kind, sub) {
        case (.star, .star(_, let inner)) where inner == nonGreedy: return sub
        case (.plus, .plus(_, let inner)) where inner == nonGreedy: return sub
        case (.quest, .quest(_, let inner)) where inner == nonGreedy: return sub
        default: break
        }
        switch kind {
        case .star: return .star(sub, nonGreedy: nonGreedy)
        case .plus: return .plus(sub, nonGreedy: nonGreedy)
        case .quest: return .quest(sub, nonGreedy: nonGreedy)
        }
    }

    // MARK: Compile (Go's syntax.Compile)

    struct Hole {
        var inst: Int32
        var isArg: Bool
    }

    struct Fragment {
        /// 0 means "no fragment" (Go's fail fragment).
        var start: Int32
        var holes: [Hole]
        var nullable: Bool
    }

    struct Compiler {
        var insts: [Inst] = []
        var classes: [RuneClass] = []
        var classIndex: [RuneClass: Int32] = [:]

        mutating func emit(_ inst: Inst) -> Int32 {
            insts.append(inst)
            return Int32(insts.count - 1)
        }

        mutating func patch(_ holes: [Hole], to target: Int32) {
            for hole in holes {
                if hole.isArg { insts[Int(hole.inst)].arg = target } else { insts[Int(hole.inst)].out = target }
            }
        }

        mutating func single(_ op: Op, arg: Int32 = 0) throws(GoRegex.SyntaxError) -> Fragment {
            if insts.count >= RegexProgram.maxInstructions {
                throw GoRegex.SyntaxError(code: .tooLarge, fragment: "", offset: 0)
            }
            let index = emit(Inst(op: op, arg: arg))
            return Fragment(start: index, holes: [Hole(inst: index, isArg: false)], nullable: op != .rune)
        }

        mutating func compile(_ node: RegexNode) throws(GoRegex.SyntaxError) -> Fragment {
            switch node {
            case .noMatch:
                return Fragment(start: 0, holes: [], nullable: false)
            case .emptyMatch:
                return try single(.nop)
            case .runes(let runeClass):
                let index: Int32
                if let known = classIndex[runeClass] {
                    index = known
                } else {
                    index = Int32(classes.count)
                    classes.append(runeClass)
                    classIndex[runeClass] = index
                }
                return try single(.rune, arg: index)
            case .assertion(let condition):
                return try single(.emptyWidth, arg: Int32(condition.rawValue))
            case .capture(let index, _, let sub):
                let open = try single(.capture, arg: Int32(index * 2))
                let body = try compile(sub)
                let close = try single(.capture, arg: Int32(index * 2 + 1))
                return cat(cat(open, body), close)
            case .star(let sub, let nonGreedy):
                return try star(try compile(sub), nonGreedy)
            case .plus(let sub, let nonGreedy):
                return try plus(try compile(sub), nonGreedy)
            case .quest(let sub, let nonGreedy):
                return try quest(try compile(sub), nonGreedy)
            case .repeat(let sub, let min, let max, let nonGreedy):
                return try repetition(sub, min: min, max: max, nonGreedy: nonGreedy)
            case .concat(let subs):
                guard !subs.isEmpty else { return try single(.nop) }
                var fragment = try compile(subs[0])
                for sub in subs.dropFirst() { fragment = cat(fragment, try compile(sub)) }
                return fragment
            case .alternate(let subs):
                var fragment: Fragment?
                for sub in subs {
                    let next = try compile(sub)
                    fragment = try fragment.map { first throws(GoRegex.SyntaxError) in try alt(first, next) } ?? next
                }
                return fragment ?? Fragment(start: 0, holes: [], nullable: false)
            }
        }

        /// `x{min,max}` as Go's `Simplify` expands it (`x{2,4}` is `xx(x(x)?)?`), built inside out in a loop.
        mutating func repetition(_ sub: RegexNode, min: Int, max: Int, nonGreedy: Bool) throws(GoRegex.SyntaxError)
            -> Fragment
        {
            if min == 0 && max == 0 { return try single(.nop) }
            if case .emptyMatch = sub { return try single(.nop) }
            if max == -1 {
                if min == 0 { return try compile(RegexProgram.simplify1(.star, nonGreedy, sub)) }
                let plus = try compile(RegexProgram.simplify1(.plus, nonGreedy, sub))
                var fragment: Fragment?
                for _ in 0..<(min - 1) {
                    let copy = try compile(sub)
                    fragment = fragment.map { cat($0, copy) } ?? copy
                }
                return fragment.map { cat($0, plus) } ?? plus
            }
            if min == 1 && max == 1 { return try compile(sub) }
            var prefix: Fragment?
            for _ in 0..<min {
                let copy = try compile(sub)
                prefix = prefix.map { cat($0, copy) } ?? copy
            }
            guard max > min else { return prefix ?? Fragment(start: 0, holes: [], nullable: false) }
            // The innermost optional copy first, then each one wrapping it: (x(x(x)?)?)?.
            var suffix = try compile(RegexProgram.simplify1(.quest, nonGreedy, sub))
            if min + 1 < max {
                for _ in (min + 1)..<max {
                    suffix = try quest(cat(try compile(sub), suffix), nonGreedy)
                }
            }
            return prefix.map { cat($0, suffix) } ?? suffix
        }

        mutating func cat(_ first: Fragment, _ second: Fragment) -> Fragment {
            if first.start == 0 || second.start == 0 { return Fragment(start: 0, holes: [], nullable: false) }
            patch(first.holes, to: second.start)
            return Fragment(start: first.start, holes: second.holes, nullable: first.nullable && second.nullable)
        }

        mutating func alt(_ first: Fragment, _ second: Fragment) throws(GoRegex.SyntaxError) -> Fragment {
            if first.start == 0 { return second }
            if second.start == 0 { return first }
            let split = try single(.alt)
            insts[Int(split.start)].out = first.start
            insts[Int(split.start)].arg = second.start
            return Fragment(
                start: split.start, holes: first.holes + second.holes, nullable: first.nullable || second.nullable)
        }

        /// An `alt` whose preferred branch enters `body` (the other when non-greedy); the branch that skips
        /// `body` is left as the returned hole.
        mutating func split(into body: Fragment, _ nonGreedy: Bool) throws(GoRegex.SyntaxError) -> (Int32, Hole) {
            let split = try single(.alt).start
            if nonGreedy {
                insts[Int(split)].arg = body.start
                return (split, Hole(inst: split, isArg: false))
            }
            insts[Int(split)].out = body.start
            return (split, Hole(inst: split, isArg: true))
        }

        mutating func quest(_ body: Fragment, _ nonGreedy: Bool) throws(GoRegex.SyntaxError) -> Fragment {
            let (split, skip) = try split(into: body, nonGreedy)
            return Fragment(start: split, holes: [skip] + body.holes, nullable: true)
        }

        mutating func loop(_ body: Fragment, _ nonGreedy: Bool) throws(GoRegex.SyntaxError) -> Fragment {
            let (split, exit) = try split(into: body, nonGreedy)
            patch(body.holes, to: split)
            return Fragment(start: split, holes: [exit], nullable: true)
        }

        mutating func star(_ body: Fragment, _ nonGreedy: Bool) throws(GoRegex.SyntaxError) -> Fragment {
            if body.nullable {
                // Go's fix for empty-width loops: (x*)* compiles as (x+)?.
                return try quest(try plus(body, nonGreedy), nonGreedy)
            }
            return try loop(body, nonGreedy)
        }

        mutating func plus(_ body: Fragment, _ nonGreedy: Bool) throws(GoRegex.SyntaxError) -> Fragment {
            Fragment(start: body.start, holes: try loop(body, nonGreedy).holes, nullable: body.nullable)
        }
    }
}
