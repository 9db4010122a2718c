import Foundation
import Synchronization

/// One thread that waits for the exits of every running step at once, on their pidfds, with `poll(2)`.
///
/// Each waiting attempt used to park a dispatch thread; with many long steps running (a server at its
/// concurrency cap) that drained Dispatch's thread pool, which the audit log's writer also needs. Here a
/// waiting attempt costs a table entry, and the thread sleeps in the kernel until a step exits.
final class ExitMonitor: Sendable {
    static let shared = ExitMonitor()

    private struct Waiter {
        var descriptor: CInt
        var resume: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var waiters: [UInt64: Waiter] = [:]
        var nextToken: UInt64 = 0
        var started = false
    }

    private let state = Mutex(State())
    /// Written to whenever the set of descriptors changes, so the thread re-reads it.
    private let wakeRead: CInt
    private let wakeWrite: CInt

    private init() {
        var ends: [CInt] = [-1, -1]
        if pipe(&ends) == 0 {
            for end in ends {
                _ = fcntl(end, F_SETFD, FD_CLOEXEC)
                _ = fcntl(end, F_SETFL, O_NONBLOCK)
            }
        } else {
            ends = [-1, -1]
        }
        wakeRead = ends[0]
        wakeWrite = ends[1]
    }

    /// True when the process behind `pidfd` exits; false when the calling task is cancelled first.
    func waitForExit(pidfd: CInt) async -> Bool {
        guard wakeRead >= 0 else { return false }
        let token = state.withLock { state -> UInt64 in
            state.nextToken += 1
            return state.nextToken
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (resume: CheckedContinuation<Bool, Never>) in
                let startThread = state.withLock { state -> Bool in
                    state.waiters[token] = Waiter(descriptor: pidfd, resume: resume)
                    defer { state.started = true }
                    return !state.started
                }
                if startThread {
                    let thread = Thread { [self] in self.loop() }
                    thread.name = "medic.exit-monitor"
                    thread.start()
                }
                wake()
                // Cancelled before the entry existed: the handler found nothing to remove, so do it here.
                if Task.isCancelled { cancel(token) }
            }
        } onCancel: {
            cancel(token)
        }
    }

    private func cancel(_ token: UInt64) {
        let waiter = state.withLock { $0.waiters.removeValue(forKey: token) }
        if let waiter {
            waiter.resume.resume(returning: false)
            wake()
        }
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    private func loop() {
        var drain = [UInt8](repeating: 0, count: 64)
        while true {
            let watched = state.withLock { state in state.waiters.map { ($0.key, $0.value.descriptor) } }
            var descriptors = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            descriptors += watched.map { pollfd(fd: $0.1, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&descriptors, nfds_t(descriptors.count), -1)
            if ready < 0 {
                if errno == EINTR { continue }
                usleep(1_000)
                continue
            }
            if descriptors[0].revents != 0 {
                while read(wakeRead, &drain, drain.count) > 0 {}
            }
            var exited: [Waiter] = []
            state.withLock { state in
                for (index, entry) in watched.enumerated() where descriptors[index + 1].revents != 0 {
                    // A descriptor that was closed (POLLNVAL) belonged to a waiter already removed.
                    if descriptors[index + 1].revents & Int16(POLLNVAL) != 0 { continue }
                    if let waiter = state.waiters.removeValue(forKey: entry.0) { exited.append(waiter) }
                }
            }
            for waiter in exited { waiter.resume.resume(returning: true) }
        }
    }
}
