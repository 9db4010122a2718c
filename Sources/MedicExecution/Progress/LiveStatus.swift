import Foundation
import MedicCore
import Synchronization

/// The terminal's status line: which steps are running, at which attempt, for how long. Event lines are
/// printed above it.
public final class LiveStatus: Sendable {
    private struct State {
        var running: [String: (attempt: Int, since: ContinuousClock.Instant)] = [:]
        var order: [String] = []
        var drawn = false
    }

    private let state = Mutex(State())
    private let write: @Sendable (String) -> Void
    private let now: @Sendable () -> ContinuousClock.Instant

    /// - Parameters:
    ///   - write: where the terminal's bytes go (standard output, unbuffered, by default).
    ///   - now: the clock the running times are read from.
    public init(
        write: @escaping @Sendable (String) -> Void = { FileHandle.standardOutput.write(Data($0.utf8)) },
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.write = write
        self.now = now
    }

    public func update(_ progress: Executor.Progress) {
        state.withLock { state in
            switch progress {
            case .attemptStarted(let step, let phase, let attempt, _):
                let key = phase == .rollback ? "rollback of \(step)" : step
                state.running[key] = (attempt, now())
                state.order.append(key)
            case .attemptFinished(let step, let phase, _, _, _):
                let key = phase == .rollback ? "rollback of \(step)" : step
                state.running[key] = nil
                state.order.removeAll { $0 == key }
            default:
                break
            }
        }
        redraw()
    }

    /// Prints an event line above the status line.
    public func print(_ text: String) {
        state.withLock { state in
            write("\r\u{1B}[K" + text + "\n" + Self.status(state, now: now()))
            state.drawn = true
        }
    }

    public func redraw() {
        state.withLock { state in
            write("\r\u{1B}[K" + Self.status(state, now: now()))
            state.drawn = true
        }
    }

    public func clear() {
        state.withLock { state in
            if state.drawn { write("\r\u{1B}[K") }
            state.drawn = false
        }
    }

    private static func status(_ state: State, now: ContinuousClock.Instant) -> String {
        guard !state.order.isEmpty else { return "" }
        let parts = state.order.compactMap { key -> String? in
            guard let entry = state.running[key] else { return nil }
            let seconds = Double((now - entry.since).milliseconds) / 1000
            return "\(key)" + (entry.attempt > 1 ? " #\(entry.attempt)" : "") + String(format: " %.1fs", seconds)
        }
        return "\u{1B}[2m… running: " + parts.joined(separator: ", ") + "\u{1B}[0m"
    }
}
