import Synchronization

/// Whole-value matching (`\A(?:re)\z`) by a DFA built lazily from the program, one state per set of NFA
/// threads, as RE2 and Go's successors do. Each input rune costs one table lookup once its transition is
/// known, and at most one pass over the program when it is not, so time stays O(program × input) even when
/// the cache is full and has to be dropped. Shared between threads; the cache sits behind a mutex.
final class LazyDFA: Sendable {
    let program: RegexProgram
    private let cache: Mutex<Cache>

    /// States kept before the cache is dropped and rebuilt (about 1 MiB of tables at most).
    static let maxStates = 2_048

    init(program: RegexProgram) {
        self.program = program
        cache = Mutex(Cache())
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
        var other: [UInt64: Int32] = [:]
        /// Per state: -1 unknown, 0 rejects at the end of the text, 1 accepts.
        var accepts: [Int8] = []
        /// Bumped each time the cache is dropped, so that a stale state id is never written to.
        var generation = 0

        mutating func reset() {
            generation += 1
            keys.removeAll(keepingCapacity: true)
            index.removeAll(keepingCapacity: true)
            ascii.removeAll(keepingCapacity: true)
            other.removeAll(keepingCapacity: true)
            accepts.removeAll(keepingCapacity: true)
        }

        mutating func state(for key: StateKey) -> Int32 {
            if let known = index[key] { return known }
            let id = Int32(keys.count)
            keys.append(key)
            index[key] = id
            ascii.append(contentsOf: repeatElement(-1, count: 128))
            accepts.append(-1)
            return id
        }
    }

    /// Whether the whole of `bytes` matches.
    func wholeMatch(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        cache.withLock { cache in
            let startKey = StateKey(seeds: [Int32(program.start)], before: normalized(.begin))
            var state = cache.state(for: startKey)
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
                        // The cache may have been dropped; the state ids then start over.
                        if generation == cache.generation { cache.ascii[Int(state) * 128 + Int(byte)] = next }
                    }
                } else {
                    let (rune, runeWidth) = UTF8Decoding.decode(bytes, at: position)
                    width = runeWidth
                    let key = UInt64(UInt32(bitPattern: state)) << 32 | UInt64(rune)
                    if let known = cache.other[key] {
                        next = known
                    } else {
                        let generation = cache.generation
                        next = computeNext(&cache, state, rune: rune)
                        if generation == cache.generation { cache.other[key] = next }
                    }
                }
                if next == -2 { return false }
                state = next
                position += width
            }
            return accepts(&cache, state)
        }
    }

    private func normalized(_ before: Before) -> Before {
        program.hasEmptyWidth ? before : .other
    }

    /// The rune instructions reachable from `seeds` by empty transitions, given the context; and whether a
    /// match instruction is reachable.
    private func closure(_ seeds: [Int32], condition: EmptyWidth) -> (runes: [Int32], matches: Bool) {
        var visited = Set<Int32>()
        var stack = seeds.reversed() as [Int32]
        var runes: [Int32] = []
        var matches = false
        while let pc = stack.popLast() {
            guard pc != 0, visited.insert(pc).inserted else { continue }
            let inst = program.insts[Int(pc)]
            switch inst.op {
            case .fail: break
            case .match: matches = true
            case .rune: runes.append(pc)
            case .alt:
                stack.append(inst.arg)
                stack.append(inst.out)
            case .emptyWidth:
                if EmptyWidth(rawValue: UInt8(inst.arg)).isSubset(of: condition) { stack.append(inst.out) }
            case .nop, .capture:
                stack.append(inst.out)
            }
        }
        return (runes, matches)
    }

    private func computeNext(_ cache: inout Cache, _ state: Int32, rune: UInt32) -> Int32 {
        let key = cache.keys[Int(state)]
        let condition = EmptyWidth.context(before: key.before.rune, after: rune)
        var seeds: [Int32] = []
        for pc in closure(key.seeds, condition: condition).runes
        where program.classes[Int(program.insts[Int(pc)].arg)].contains(rune) {
            seeds.append(program.insts[Int(pc)].out)
        }
        if seeds.isEmpty { return -2 }
        seeds.sort()
        var unique: [Int32] = []
        unique.reserveCapacity(seeds.count)
        for seed in seeds where unique.last != seed { unique.append(seed) }
        if cache.keys.count >= Self.maxStates || cache.other.count >= 65_536 { cache.reset() }
        return cache.state(for: StateKey(seeds: unique, before: normalized(Before(rune: rune))))
    }

    private func accepts(_ cache: inout Cache, _ state: Int32) -> Bool {
        let known = cache.accepts[Int(state)]
        if known >= 0 { return known == 1 }
        let key = cache.keys[Int(state)]
        let result = closure(key.seeds, condition: EmptyWidth.context(before: key.before.rune, after: nil)).matches
        cache.accepts[Int(state)] = result ? 1 : 0
        return result
    }
}
