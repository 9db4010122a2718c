import Synchronization

/// Whole-value matching (`\A(?:re)\z`) by a DFA built lazily from the program, one state per set of NFA
/// threads, as RE2 does. Each input character costs one table lookup once its transition is known, and
/// one pass over the program when it is not, so time stays O(program × input) whatever the pattern and the
/// value. Shared between threads; the cache sits behind a mutex.
///
/// Memory is bounded per pattern: states, the NFA threads they remember, and transitions for characters
/// beyond ASCII (grouped into the ranges the program cannot tell apart, so a value of many distinct
/// characters adds no more than the program has classes). When the budget is spent the cache is dropped
/// and rebuilt; a value that keeps dropping it is finished without caching, like Go's NFA: with the live
/// threads as bits of a word for small programs (`BitParallelNFA`), else one pass over the program per
/// character.
final class LazyDFA: Sendable {
    let program: RegexProgram
    /// Boundaries between code points (>= 128) that some rune instruction tells apart, sorted: the
    /// equivalence class of a code point is how many boundaries are <= it.
    private let boundaries: [UInt32]
    private let cache: Mutex<Cache>
    /// For small programs without empty-width tests: the NFA a value is finished with when the cache cannot
    /// hold its states.
    private let bitParallel: BitParallelNFA?

    static let maxStates = 2_048
    /// NFA threads remembered across all states (4 bytes each).
    static let maxSeeds = 262_144
    /// Transitions for characters beyond ASCII.
    static let maxOtherTransitions = 65_536
    /// Cache drops within one match before the rest of the value is matched without caching.
    static let maxResetsPerMatch = 3

    init(program: RegexProgram) {
        self.program = program
        var points = Set<UInt32>()
        for runeClass in program.classes {
            for (lo, hi) in runeClass.pairs where hi >= 128 {
                points.insert(max(lo, 128))
                if hi < RuneClass.maxRune { points.insert(hi + 1) }
            }
        }
        boundaries = points.sorted()
        cache = Mutex(Cache(size: program.insts.count))
        bitParallel = BitParallelNFA(program)
    }

    /// Context bits remembered from the previous rune: only programs with empty-width tests use them.
    struct Before: Hashable {
        var rawValue: UInt8
        static let begin = Before(rawValue: 1)
        static let newline = Before(rawValue: 2)
        static let word = Before(rawValue: 3)
        static let other = Before(rawValue: 0)

        init(rawValue: UInt8) { self.rawValue = rawValue }
        init(rune: UInt32) {
            if EmptyWidth.isWordRune(rune) {
                self = .word
            } else if rune == 0x0A {
                self = .newline
            } else {
                self = .other
            }
        }

        /// A representative previous rune, for `EmptyWidth.context`.
        var rune: UInt32? {
            switch rawValue {
            case 1: return nil
            case 2: return 0x0A
            case 3: return 0x61
            default: return 0x20
            }
        }
    }

    struct StateKey: Hashable {
        var seeds: [Int32]
        var before: Before
    }

    struct Cache: ~Copyable {
        var keys: [StateKey] = []
        var index: [StateKey: Int32] = [:]
        /// 128 ASCII transitions per state: -1 unknown, -2 dead, else the next state.
        var ascii: [Int32] = []
        /// (state << 32 | character class) -> next state, for characters beyond ASCII.
        var other: [UInt64: Int32] = [:]
        /// Per state: -1 unknown, 0 rejects at the end of the text, 1 accepts.
        var accepts: [Int8] = []
        var seedCount = 0
        /// Bumped each time the cache is dropped, so that a stale state id is never written to.
        var generation = 0
        /// Scratch for closures: the pass in which each instruction was last visited, and a work stack.
        var visited: [UInt32]
        var pass: UInt32 = 0
        var stack: [Int32] = []

        init(size: Int) {
            visited = Array(repeating: 0, count: size)
        }

        var isFull: Bool {
            keys.count >= LazyDFA.maxStates || seedCount >= LazyDFA.maxSeeds
                || other.count >= LazyDFA.maxOtherTransitions
        }

        /// Drops every state and gives the memory back.
        mutating func reset() {
            generation += 1
            keys = []
            index = [:]
            ascii = []
            other = [:]
            accepts = []
            seedCount = 0
        }

        mutating func state(for key: StateKey) -> Int32 {
            if let known = index[key] { return known }
            let id = Int32(keys.count)
            keys.append(key)
            index[key] = id
            ascii.append(contentsOf: repeatElement(-1, count: 128))
            accepts.append(-1)
            seedCount += key.seeds.count
            return id
        }
    }

    /// What the cache holds now, for tests.
    var cacheSize: (states: Int, seeds: Int, otherTransitions: Int) {
        cache.withLock { ($0.keys.count, $0.seedCount, $0.other.count) }
    }

    private func characterClass(_ rune: UInt32) -> UInt32 {
        var low = 0
        var high = boundaries.count
        while low < high {
            let middle = (low + high) / 2
            if boundaries[middle] <= rune { low = middle + 1 } else { high = middle }
        }
        return UInt32(low)
    }

    /// Whether the whole of `bytes` matches.
    func wholeMatch(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        cache.withLock { cache in
            let startKey = StateKey(seeds: [Int32(program.start)], before: normalized(.begin))
            var state = cache.state(for: startKey)
            var resets = 0
            var position = 0
            let count = bytes.count
            while position < count {
                let byte = bytes[position]
                var next: Int32
                var width = 1
                if byte < 0x80 {
                    next = cache.ascii[Int(state) * 128 + Int(byte)]
                    if next == -1 {
                        let generation = cache.generation
                        next = computeNext(&cache, state, rune: UInt32(byte))
                        if generation == cache.generation {
                            cache.ascii[Int(state) * 128 + Int(byte)] = next
                        } else {
                            resets += 1
                        }
                    }
                } else {
                    let (rune, runeWidth) = UTF8Decoding.decode(bytes, at: position)
                    width = runeWidth
                    let key = UInt64(UInt32(bitPattern: state)) << 32 | UInt64(characterClass(rune))
                    if let known = cache.other[key] {
                        next = known
                    } else {
                        let generation = cache.generation
                        next = computeNext(&cache, state, rune: rune)
                        if generation == cache.generation { cache.other[key] = next } else { resets += 1 }
                    }
                }
                if next == -2 { return false }
                state = next
                position += width
                // The bit-parallel NFA is nearly as fast as a warm DFA: hand over at the first drop.
                if resets > (bitParallel == nil ? Self.maxResetsPerMatch : 0) {
                    let key = cache.keys[Int(state)]
                    if let bitParallel { return bitParallel.matches(bytes, from: position, seeds: key.seeds) }
                    return uncachedMatch(&cache, bytes, from: position, seeds: key.seeds, before: key.before)
                }
            }
            return accepts(&cache, state)
        }
    }

    private func normalized(_ before: Before) -> Before {
        program.hasEmptyWidth ? before : .other
    }

    /// The threads after reading `rune` in the state `(seeds, before)`: the rune instructions reachable by
    /// empty transitions that accept it, each moved past it; sorted and unique. Also whether a match
    /// instruction is reachable (for `rune` nil, the end of the text).
    private func step(_ cache: inout Cache, _ seeds: [Int32], _ before: Before, rune: UInt32?) -> (
        next: [Int32], matches: Bool
    ) {
        var next: [Int32] = []
        let matches = follow(&cache, seeds, before, rune: rune, into: &next)
        next.sort()
        var unique: [Int32] = []
        unique.reserveCapacity(next.count)
        for seed in next where unique.last != seed { unique.append(seed) }
        return (unique, matches)
    }

    /// One step of Go's NFA without submatches: walks the empty transitions from `seeds` (each instruction
    /// once, by the visited marks), appends to `next` where each rune instruction that accepts `rune` leads,
    /// and says whether a match instruction was reached.
    private func follow(
        _ cache: inout Cache, _ seeds: [Int32], _ before: Before, rune: UInt32?, into next: inout [Int32]
    ) -> Bool {
        let condition = EmptyWidth.context(before: before.rune, after: rune)
        cache.pass &+= 1
        if cache.pass == 0 {
            for i in cache.visited.indices { cache.visited[i] = 0 }
            cache.pass = 1
        }
        let pass = cache.pass
        cache.stack.removeAll(keepingCapacity: true)
        for seed in seeds.reversed() { cache.stack.append(seed) }
        var matches = false
        while let pc = cache.stack.popLast() {
            guard pc != 0, cache.visited[Int(pc)] != pass else { continue }
            cache.visited[Int(pc)] = pass
            let inst = program.insts[Int(pc)]
            switch inst.op {
            case .fail: break
            case .match: matches = true
            case .rune:
                if let rune, accepts(rune, classIndex: inst.arg) { next.append(inst.out) }
            case .alt:
                cache.stack.append(inst.arg)
                cache.stack.append(inst.out)
            case .emptyWidth:
                if EmptyWidth(rawValue: UInt8(inst.arg)).isSubset(of: condition) { cache.stack.append(inst.out) }
            case .nop, .capture:
                cache.stack.append(inst.out)
            }
        }
        return matches
    }

    private func computeNext(_ cache: inout Cache, _ state: Int32, rune: UInt32) -> Int32 {
        let key = cache.keys[Int(state)]
        let seeds = step(&cache, key.seeds, key.before, rune: rune).next
        if seeds.isEmpty { return -2 }
        if cache.isFull { cache.reset() }
        return cache.state(for: StateKey(seeds: seeds, before: normalized(Before(rune: rune))))
    }

    private func accepts(_ cache: inout Cache, _ state: Int32) -> Bool {
        let known = cache.accepts[Int(state)]
        if known >= 0 { return known == 1 }
        let key = cache.keys[Int(state)]
        let result = step(&cache, key.seeds, key.before, rune: nil).matches
        cache.accepts[Int(state)] = result ? 1 : 0
        return result
    }

    @inline(__always)
    private func accepts(_ rune: UInt32, classIndex: Int32) -> Bool {
        if rune < 128 {
            let bits = program.classASCII[Int(classIndex)]
            return rune < 64 ? bits.0 & (1 << UInt64(rune)) != 0 : bits.1 & (1 << UInt64(rune - 64)) != 0
        }
        return program.classes[Int(classIndex)].contains(rune)
    }

    /// The rest of the value without caching, for patterns whose states do not fit the cache: Go's NFA
    /// without submatches, two reused thread lists, no sorting (the visited marks keep threads unique).
    private func uncachedMatch(
        _ cache: inout Cache, _ bytes: UnsafeBufferPointer<UInt8>, from start: Int, seeds: [Int32], before: Before
    ) -> Bool {
        var current = seeds
        var next: [Int32] = []
        next.reserveCapacity(program.insts.count)
        var before = before
        var position = start
        while position < bytes.count {
            let (rune, width) = UTF8Decoding.decode(bytes, at: position)
            next.removeAll(keepingCapacity: true)
            _ = follow(&cache, current, before, rune: rune, into: &next)
            if next.isEmpty { return false }
            swap(&current, &next)
            before = normalized(Before(rune: rune))
            position += width
        }
        return step(&cache, current, before, rune: nil).matches
    }
}
