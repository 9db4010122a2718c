/// Go's NFA for small programs, with the set of live threads as the bits of one 64-bit word: for a pattern
/// of at most 64 character tests and no `^ $ \b` (the common shape of a pattern whose DFA cannot fit, such
/// as `[ab]*a[ab]{30}`), reading a character costs one OR per live thread instead of a walk over the
/// program. `LazyDFA` hands such a value over to it once its cache keeps overflowing.
struct BitParallelNFA: Sendable {
    /// Per character-test instruction (bit i), the tests reachable right after it, and whether the match is.
    private let follow: [UInt64]
    private let followMatches: UInt64
    /// The same from any program counter (for a DFA state's threads), by pc.
    private let closure: [UInt64]
    private let closureMatches: [Bool]
    /// Per ASCII character, the tests that accept it.
    private let asciiAccept: [UInt64]
    private let classes: [RuneClass]

    init?(_ program: RegexProgram) {
        guard !program.hasEmptyWidth else { return nil }
        var bit: [Int32: Int] = [:]
        var tests: [Int32] = []
        for (pc, inst) in program.insts.enumerated() where inst.op == .rune {
            bit[Int32(pc)] = tests.count
            tests.append(Int32(pc))
        }
        guard tests.count <= 64 else { return nil }
        // The epsilon closure of every pc, by a walk from it (programs here are small).
        var closure = [UInt64](repeating: 0, count: program.insts.count)
        var closureMatches = [Bool](repeating: false, count: program.insts.count)
        for start in program.insts.indices {
            var mask: UInt64 = 0
            var matches = false
            var seen = Set<Int32>()
            var stack: [Int32] = [Int32(start)]
            while let pc = stack.popLast() {
                guard pc != 0, seen.insert(pc).inserted else { continue }
                let inst = program.insts[Int(pc)]
                switch inst.op {
                case .fail, .emptyWidth: break
                case .match: matches = true
                case .rune: mask |= 1 << UInt64(bit[pc]!)
                case .alt:
                    stack.append(inst.arg)
                    stack.append(inst.out)
                case .nop, .capture: stack.append(inst.out)
                }
            }
            closure[start] = mask
            closureMatches[start] = matches
        }
        var follow: [UInt64] = []
        var followMatches: UInt64 = 0
        var classes: [RuneClass] = []
        for (index, pc) in tests.enumerated() {
            let inst = program.insts[Int(pc)]
            follow.append(closure[Int(inst.out)])
            if closureMatches[Int(inst.out)] { followMatches |= 1 << UInt64(index) }
            classes.append(program.classes[Int(inst.arg)])
        }
        var asciiAccept = [UInt64](repeating: 0, count: 128)
        for rune in 0..<128 {
            for (index, runeClass) in classes.enumerated() where runeClass.contains(UInt32(rune)) {
                asciiAccept[rune] |= 1 << UInt64(index)
            }
        }
        self.follow = follow
        self.followMatches = followMatches
        self.closure = closure
        self.closureMatches = closureMatches
        self.asciiAccept = asciiAccept
        self.classes = classes
    }

    /// Whether the rest of `bytes` from `start` completes a match, the threads being those waiting at `seeds`.
    func matches(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, seeds: [Int32]) -> Bool {
        var live: UInt64 = 0
        var atMatch = false
        for seed in seeds {
            live |= closure[Int(seed)]
            atMatch = atMatch || closureMatches[Int(seed)]
        }
        var position = start
        while position < bytes.count {
            let byte = bytes[position]
            var accept: UInt64
            if byte < 0x80 {
                accept = asciiAccept[Int(byte)]
                position += 1
            } else {
                let (rune, width) = UTF8Decoding.decode(bytes, at: position)
                accept = 0
                for (index, runeClass) in classes.enumerated() where runeClass.contains(rune) {
                    accept |= 1 << UInt64(index)
                }
                position += width
            }
            var active = live & accept
            if active == 0 { return false }
            atMatch = active & followMatches != 0
            live = 0
            while active != 0 {
                let index = active.trailingZeroBitCount
                live |= follow[index]
                active &= active - 1
            }
        }
        return atMatch
    }
}
