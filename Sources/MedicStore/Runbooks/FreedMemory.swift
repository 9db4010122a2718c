import Foundation

/// Parsing and indexing a large runbook set leaves freed memory in malloc's arenas; this gives it back.
public enum FreedMemory {
    /// glibc's `malloc_trim(0)`, looked up at run time (it is not in the Glibc module); a no-op elsewhere.
    public static func giveBack() {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
        typealias Trim = @convention(c) (Int) -> Int32
        _ = unsafeBitCast(symbol, to: Trim.self)(0)
    }
}
