import Foundation

/// The processes on this machine, read from /proc: for tests that check, by pid, what is still running.
public enum Processes {
    /// Pids whose command line (arguments joined by NUL) satisfies `predicate`.
    public static func matching(_ predicate: (String) -> Bool) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init).filter {
            predicate((try? String(contentsOfFile: "/proc/\($0)/cmdline", encoding: .utf8)) ?? "")
        }
    }
}
