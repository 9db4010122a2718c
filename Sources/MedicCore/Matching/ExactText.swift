/// A string compared and hashed by its Unicode scalars (its UTF-8 bytes), as Go compares strings.
///
/// Swift's `String ==` and `Dictionary<String, _>` use canonical equivalence: the Kelvin sign U+212A equals
/// `K`, and `e` + U+0301 equals `é`. Alertmanager tells them apart, and so must matching.
public struct ExactText: Hashable, Sendable, CustomStringConvertible {
    public var text: String

    public init(_ text: String) {
        self.text = text
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.text.isExactly(rhs.text)
    }

    public func hash(into hasher: inout Hasher) {
        var text = text
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        hasher.combine(0xFF as UInt8)  // never a byte of UTF-8: "ab" + "c" and "a" + "bc" hash apart
    }

    public var description: String { text }
}

extension String {
    /// Whether the two strings have the same Unicode scalars; `==` would also accept canonically equivalent ones.
    func isExactly(_ other: String) -> Bool {
        // Over contiguous UTF-8 (native strings are): a length check and a tight loop, not a generic iterator.
        guard utf8.count == other.utf8.count else { return false }
        var (a, b) = (self, other)
        return a.withUTF8 { x in b.withUTF8 { y in x.elementsEqual(y) } }
    }
}

extension Array where Element == String {
    /// Same length, and each element `isExactly` its counterpart.
    func isExactly(_ other: [String]) -> Bool {
        count == other.count && zip(self, other).allSatisfy { $0.isExactly($1) }
    }
}

extension String {
    /// Whether `needle`'s bytes occur in this string's bytes (`contains` on `String` compares characters, so
    /// `"e\u{301}".contains("e")` is false and canonically equivalent spellings match).
    func containsExactly(_ needle: String) -> Bool {
        let haystack = Array(utf8)
        let needle = Array(needle.utf8)
        guard !needle.isEmpty else { return true }
        guard needle.count <= haystack.count else { return false }
        for start in 0...(haystack.count - needle.count)
        where haystack[start] == needle[0] && haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return true
        }
        return false
    }
}

extension Dictionary where Key == String {
    /// The value stored under exactly `key` (same Unicode scalars). The subscript also finds a canonically
    /// equivalent key (`K` finds a label named with the Kelvin sign), which Alertmanager would not.
    public func value(forExactKey key: String) -> Value? {
        guard let index = index(forKey: key), self[index].key.isExactly(key) else { return nil }
        return self[index].value
    }
}
