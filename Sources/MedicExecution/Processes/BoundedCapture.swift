/// Keeps the first and last bytes of a stream within a fixed budget and counts everything, so a step that
/// prints 100 MB neither stalls (the pipe is always drained) nor grows Medic's memory.
public struct BoundedCapture: Sendable {
    public let limit: Int
    private var head: [UInt8] = []
    private var tail: [UInt8] = []
    /// Index in `tail` of the oldest byte once the ring is full.
    private var tailStart = 0
    public private(set) var totalBytes = 0

    public init(limit: Int) {
        self.limit = max(2, limit)
        head.reserveCapacity(min(self.limit / 2, 1 << 16))
    }

    private var headLimit: Int { limit / 2 }
    private var tailLimit: Int { limit - limit / 2 }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        totalBytes += bytes.count
        var index = bytes.startIndex
        while index < bytes.endIndex, head.count < headLimit {
            head.append(bytes[index])
            index += 1
        }
        guard index < bytes.endIndex else { return }
        let remaining = bytes.endIndex - index
        if remaining >= tailLimit {
            // Only the last `tailLimit` bytes can survive.
            tail = Array(bytes[(bytes.endIndex - tailLimit)...])
            tailStart = 0
            return
        }
        while index < bytes.endIndex {
            if tail.count < tailLimit {
                tail.append(bytes[index])
            } else {
                tail[tailStart] = bytes[index]
                tailStart = (tailStart + 1) % tailLimit
            }
            index += 1
        }
    }

    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// Bytes dropped between head and tail.
    public var omittedBytes: Int { totalBytes - head.count - tail.count }

    /// The kept text; when bytes were dropped, a marker says how many.
    public var text: String {
        let orderedTail = Array(tail[tailStart...] + tail[..<tailStart])
        if omittedBytes == 0 {
            return String(decoding: head + orderedTail, as: UTF8.self)
        }
        return String(decoding: head, as: UTF8.self) + "\n[… \(omittedBytes) bytes omitted by medic …]\n"
            + String(decoding: orderedTail, as: UTF8.self)
    }
}
