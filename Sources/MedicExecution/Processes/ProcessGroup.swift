import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The process group Medic signals for a step, only while its leader is Medic's unreaped child. On Linux the leader
/// is the step's launcher (`StepLauncher`), whose group holds the launcher alone and which passes signals on to
/// the step's own group; elsewhere it is the step's main process.
///
/// A group id is the leader's pid. Once the leader is reaped and the last member is gone, the kernel may give that
/// number to a new process, which may lead a group of its own: `kill(-pgid)` would then hit a stranger. While the
/// leader is a child Medic has not reaped (running or a zombie), its pid, and so the group id, cannot be reused.
/// swift-subprocess reaps the leader only after the body of `Subprocess.run` returns, so every group signal is
/// sent from inside that body; `signal` checks the leader is still unreaped (`waitid` with `WNOWAIT`, which
/// leaves it so) and refuses otherwise.
struct ProcessGroup: Sendable {
    /// What `signal` did.
    enum Outcome: Equatable, Sendable {
        case sent
        /// The leader was already reaped: the group id may belong to someone else, so nothing was sent.
        case refusedLeaderReaped
        /// `kill` failed (for example no member left); errno.
        case failed(CInt)
    }

    let leader: pid_t
    /// The leader's pidfd, or -1 where the kernel has none.
    let pidfd: CInt
    /// `kill(2)`; a seam so tests can record what would be sent.
    var send: @Sendable (pid_t, CInt) -> CInt = { kill($0, $1) }

    init(leader: pid_t, pidfd: CInt) {
        self.leader = leader
        self.pidfd = pidfd
    }

    /// True while the leader is this process's child and not yet reaped (running, stopped or a zombie).
    var leaderUnreaped: Bool {
        var info = siginfo_t()
        let flags = WEXITED | WNOHANG | WNOWAIT
        if pidfd >= 0 {
            return waitid(P_PIDFD, id_t(pidfd), &info, flags) == 0
        }
        return waitid(P_PID, id_t(leader), &info, flags) == 0
    }

    /// Sends `signal` to every member of the group, unless the leader has been reaped.
    @discardableResult
    func signal(_ signal: CInt) -> Outcome {
        guard leaderUnreaped else { return .refusedLeaderReaped }
        return send(-leader, signal) == 0 ? .sent : .failed(errno)
    }
}
