import CMedicStepLauncher
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Finds, kills and reaps what an attempt started outside its process group (`setsid`, a double fork): every
/// process whose environment carries the attempt's `MEDIC_ATTEMPT_TOKEN`.
///
/// Where the kernel lists children (`/proc/PID/task/TID/children`), only Medic's children that carry the token
/// and their descendants are examined: once the leader has exited (the caller waits for that), every surviving
/// process of the attempt descends from a child of Medic, since Medic, as subreaper, adopted the leader's
/// children and every orphan below them. Elsewhere every process's environment is read.
///
/// Each candidate is opened as a pidfd first and checked for the token afterwards, so the SIGKILL, sent through
/// the pidfd, reaches the process that was checked even if its pid is recycled meanwhile. Medic is a child
/// subreaper, so a killed process whose parent is gone becomes Medic's child; those, and only those, are reaped,
/// each by its own pidfd (`waitid(P_PIDFD)`). The step's leader is excluded: swift-subprocess waits for it and
/// reaps it, and nothing here ever waits for "any child", which would steal its exit status.
///
/// Limits: a process that cleared the token from its environment and exec'd, or whose environment Medic may not
/// read (another user, a set-user-ID program), is not found. Orphans that exited on their own before the sweep (no
/// environment left to read) are reaped when they are in the leader's session (`reapExitedOrphans`); one that had
/// left the session with `setsid` stays a zombie child of Medic.
enum EscapedDescendants {
    /// Kills every process carrying `token` except `leader`, repeating until none is left, and reaps those that
    /// became Medic's children. Returns the pids it killed. Bounded by `deadline`.
    static func killAndReap(token: String, leader: pid_t, deadline: Duration = .seconds(2)) async -> [pid_t] {
        let marker = Array("\(StepLauncher.tokenVariable)=\(token)".utf8)
        let until = ContinuousClock.now + deadline
        var killed: [pid_t] = []
        var pending: [pid_t: CInt] = [:]
        defer { for descriptor in pending.values { close(descriptor) } }
        while ContinuousClock.now < until {
            var found = false
            for pid in candidates(of: marker) where pid != leader && pending[pid] == nil && !killed.contains(pid) {
                let descriptor = medic_pidfd_open(pid)
                guard descriptor >= 0 else { continue }
                // Checked after opening: the descriptor now names the process that carries the token.
                guard carries(pid, marker) else {
                    close(descriptor)
                    continue
                }
                _ = medic_pidfd_send_signal(descriptor, SIGKILL)
                pending[pid] = descriptor
                killed.append(pid)
                found = true
            }
            for (pid, descriptor) in pending {
                var info = siginfo_t()
                let rc = waitid(P_PIDFD, id_t(descriptor), &info, WEXITED | WNOHANG)
                if rc == 0, info._sifields._sigchld.si_pid != 0 {
                    // Reaped: it was Medic's child (adopted as subreaper).
                    close(descriptor)
                    pending[pid] = nil
                } else if rc != 0, errno == ECHILD, hasExited(descriptor), !isZombie(pid) {
                    // Not Medic's child and already gone: its own parent reaped it.
                    close(descriptor)
                    pending[pid] = nil
                }
                // Otherwise still dying, or a zombie whose parent (another killed member) has not exited yet: it
                // comes to Medic when that parent exits.
            }
            // A scan that finds no new carrier and leaves nothing to reap ends the sweep: every carrier found
            // before was SIGKILLed, and a process with a pending SIGKILL cannot fork.
            if pending.isEmpty && !found { break }
            if Task.isCancelled {
                // Task.sleep would return at once and spin; the sweep must still finish.
                usleep(pending.isEmpty ? 1_000 : 5_000)
            } else {
                try? await Task.sleep(for: .milliseconds(pending.isEmpty ? 1 : 5))
            }
        }
        reapExitedOrphans(session: leader)
        return killed
    }

    /// Reaps Medic's zombie children in the leader's session: orphans of the attempt that exited on their own
    /// (their environment, and so the token, is gone). The session id is the leader's pid, which cannot be reused
    /// while swift-subprocess has not reaped the leader; every leader Medic starts leads a session of its own, so
    /// no leader is ever among them.
    static func reapExitedOrphans(session: pid_t) {
        for pid in children(of: getpid()) ?? [] where pid != session {
            guard let fields = statFields(pid), fields.state == "Z", fields.session == session else { continue }
            let descriptor = medic_pidfd_open(pid)
            guard descriptor >= 0 else { continue }
            defer { close(descriptor) }
            // Checked again through the descriptor's process: still the zombie of this session.
            guard let again = statFields(pid), again.state == "Z", again.session == session else { continue }
            var info = siginfo_t()
            _ = waitid(P_PIDFD, id_t(descriptor), &info, WEXITED | WNOHANG)
        }
    }

    /// Pids that carry `marker`: the trees below Medic's children that carry it where the kernel lists children,
    /// else every process that carries it.
    static func candidates(of marker: [UInt8]) -> [pid_t] {
        guard let roots = children(of: getpid()) else { return carriers(of: marker) }
        var found: [pid_t] = []
        var queue = roots.filter { carries($0, marker) }
        while let pid = queue.popLast(), found.count < 100_000 {
            found.append(pid)
            queue += (children(of: pid) ?? []).filter { carries($0, marker) }
        }
        return found
    }

    /// The children of `parent`, from each of its threads' `children` file; nil where the kernel has none.
    static func children(of parent: pid_t) -> [pid_t]? {
        guard access("/proc/\(parent)/task/\(parent)/children", R_OK) == 0,
            let tasks = opendir("/proc/\(parent)/task")
        else {
            return nil
        }
        defer { closedir(tasks) }
        var pids: [pid_t] = []
        while let entry = readdir(tasks) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let thread = pid_t(name) else { continue }
            let bytes = readAll("/proc/\(parent)/task/\(thread)/children", limit: 1 << 20)
            pids += bytes.split(separator: UInt8(ascii: " ")).compactMap { pid_t(String(decoding: $0, as: UTF8.self)) }
        }
        return pids
    }

    /// Pids of processes whose environment contains `marker` as a whole entry.
    static func carriers(of marker: [UInt8]) -> [pid_t] {
        guard let directory = opendir("/proc") else { return [] }
        defer { closedir(directory) }
        let me = getpid()
        var pids: [pid_t] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let pid = pid_t(name), pid != me else { continue }
            if carries(pid, marker) { pids.append(pid) }
        }
        return pids
    }

    /// True when `/proc/PID/environ` holds `marker` as one NUL-separated entry.
    static func carries(_ pid: pid_t, _ marker: [UInt8]) -> Bool {
        readAll("/proc/\(pid)/environ", limit: 1 << 20).split(separator: 0, omittingEmptySubsequences: true)
            .contains { $0.elementsEqual(marker) }
    }

    /// The first `limit` bytes of a file (empty when it cannot be read).
    private static func readAll(_ path: String, limit: Int) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return [] }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while bytes.count < limit {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            bytes += chunk[..<count]
        }
        return bytes
    }

    private static func hasExited(_ pidfd: CInt) -> Bool {
        var descriptor = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) > 0
    }

    private static func isZombie(_ pid: pid_t) -> Bool {
        statFields(pid)?.state == "Z"
    }

    /// The state and session of `/proc/PID/stat`.
    private static func statFields(_ pid: pid_t) -> (state: Character, session: pid_t)? {
        let stat = String(decoding: readAll("/proc/\(pid)/stat", limit: 4096), as: UTF8.self)
        guard let close = stat.lastIndex(of: ")") else { return nil }
        // After the command: state ppid pgrp session ...
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 3, let state = fields[0].first, let session = pid_t(fields[3]) else { return nil }
        return (state, session)
    }
}
