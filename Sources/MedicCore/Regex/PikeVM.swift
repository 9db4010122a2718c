/// Go's NFA simulation (`regexp/exec.go`, the "Pike VM"): every thread advances in lock step over the
/// input, one rune at a time, so time is O(program × input) whatever the pattern. Leftmost-first, with
/// submatches, as Go reports them. Used for searches and submatch positions; whole-value matching
/// without submatches goes through `LazyDFA`, which answers the same question faster.
struct PikeVM {
    let program: RegexProgram

    private struct Entry {
        var pc: Int32
        /// Index of the thread's capture slots in `captures`, or -1 when this pc holds no thread.
        var thread: Int32
    }

    private struct Queue {
        var sparse: [Int32]
        var dense: [Entry] = []
        init(size: Int) { sparse = Array(repeating: 0, count: size) }
        func contains(_ pc: Int32) -> Bool {
            let index = Int(sparse[Int(pc)])
            return index < dense.count && dense[index].pc == pc
        }
    }

    /// The slots of the leftmost-first match (byte offsets, -1 for a group that did not take part), or nil.
    /// `anchored`: the match must start at 0 (as with a leading `\A`).
    func firstMatch(in bytes: UnsafeBufferPointer<UInt8>, anchored: Bool = false) -> [Int]? {
        let slotCount = program.slots
        let size = program.insts.count
        var runQueue = Queue(size: size)
        var nextQueue = Queue(size: size)
        // Capture arrays live in one growing pool; a thread is an offset into it.
        var pool: [Int] = []
        var freeList: [Int32] = []
        var matched: [Int]?
        var scratch = Array(repeating: -1, count: slotCount)

        func allocate(copying slots: UnsafeMutableBufferPointer<Int>) -> Int32 {
            if let reused = freeList.popLast() {
                for i in 0..<slotCount { pool[Int(reused) * slotCount + i] = slots[i] }
                return reused
            }
            let index = Int32(pool.count / slotCount)
            pool.append(contentsOf: slots)
            return index
        }

        // Go's `add`: follows empty transitions from pc in priority order, recording every pc visited. An
        // explicit stack instead of Go's recursion (a long alternation would be as deep): `explore` entries
        // and, under them, the capture slots to restore once a path is done.
        enum Work {
            case explore(Int32)
            case restore(slot: Int, value: Int)
        }
        var work: [Work] = []
        func add(
            _ queue: inout Queue, _ pc: Int32, _ position: Int, _ slots: UnsafeMutableBufferPointer<Int>,
            _ condition: EmptyWidth
        ) {
            work.removeAll(keepingCapacity: true)
            work.append(.explore(pc))
            while let item = work.popLast() {
                var pc: Int32
                switch item {
                case .restore(let slot, let value):
                    slots[slot] = value
                    continue
                case .explore(let start):
                    pc = start
                }
                path: while pc != 0 {
                    if queue.contains(pc) { break path }
                    queue.sparse[Int(pc)] = Int32(queue.dense.count)
                    queue.dense.append(Entry(pc: pc, thread: -1))
                    let inst = program.insts[Int(pc)]
                    switch inst.op {
                    case .fail:
                        break path
                    case .alt:
                        work.append(.explore(inst.arg))
                        pc = inst.out
                    case .emptyWidth:
                        guard EmptyWidth(rawValue: UInt8(inst.arg)).isSubset(of: condition) else { break path }
                        pc = inst.out
                    case .nop:
                        pc = inst.out
                    case .capture:
                        let slot = Int(inst.arg)
                        if slot < slotCount {
                            work.append(.restore(slot: slot, value: slots[slot]))
                            slots[slot] = position
                        }
                        pc = inst.out
                    case .match, .rune:
                        queue.dense[queue.dense.count - 1].thread = allocate(copying: slots)
                        break path
                    }
                }
            }
        }

        let count = bytes.count
        var position = 0
        var (rune, width): (UInt32?, Int) = count > 0 ? UTF8Decoding.decode(bytes, at: 0) : (nil, 0)
        var condition = EmptyWidth.context(before: nil, after: rune)
        scratch.withUnsafeMutableBufferPointer { scratchSlots in
            while true {
                if runQueue.dense.isEmpty {
                    if anchored && position != 0 { break }
                    if matched != nil { break }
                }
                if matched == nil && (position == 0 || !anchored) {
                    for i in 0..<slotCount { scratchSlots[i] = -1 }
                    scratchSlots[0] = position
                    add(&runQueue, Int32(program.start), position, scratchSlots, condition)
                }
                let nextPosition = position + width
                var nextRune: UInt32? = nil
                var nextWidth = 0
                if rune != nil, nextPosition < count {
                    (nextRune, nextWidth) = UTF8Decoding.decode(bytes, at: nextPosition)
                }
                let nextCondition = EmptyWidth.context(before: rune, after: nextRune)
                // Go's `step`.
                var index = 0
                while index < runQueue.dense.count {
                    let entry = runQueue.dense[index]
                    index += 1
                    guard entry.thread >= 0 else { continue }
                    let inst = program.insts[Int(entry.pc)]
                    let base = Int(entry.thread) * slotCount
                    switch inst.op {
                    case .match:
                        pool[base + 1] = position
                        matched = Array(pool[base..<(base + slotCount)])
                        // First match wins: lower-priority threads are cut.
                        for rest in runQueue.dense[index...] where rest.thread >= 0 { freeList.append(rest.thread) }
                        runQueue.dense.removeAll(keepingCapacity: true)
                    case .rune:
                        if let rune, program.classes[Int(inst.arg)].contains(rune) {
                            for i in 0..<slotCount { scratchSlots[i] = pool[base + i] }
                            add(&nextQueue, inst.out, nextPosition, scratchSlots, nextCondition)
                        }
                    default:
                        break
                    }
                    freeList.append(entry.thread)
                }
                runQueue.dense.removeAll(keepingCapacity: true)
                if rune == nil { break }
                position = nextPosition
                rune = nextRune
                width = nextWidth
                condition = nextCondition
                swap(&runQueue, &nextQueue)
            }
        }
        return matched
    }
}
