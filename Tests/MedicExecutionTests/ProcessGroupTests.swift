import CMedicStepLauncher
import Foundation
import Synchronization
import Testing

@testable import MedicExecution

/// A process group is signalled only while its leader is unreaped: after the reap its id may be someone else's.
@Suite(.serialized) struct ProcessGroupTests {
    /// A `sleep 300` in a new process group of its own (the group id is its pid), as this process's child.
    static func spawnLeader() throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("sleep"), strdup("300"), nil]
        defer { for argument in argv { free(argument) } }
        let rc = posix_spawn(&pid, "/bin/sleep", nil, &attributes, argv, nil)
        try #require(rc == 0)
        return pid
    }

    /// Records what would be sent, and sends it for real.
    final class Recorder: Sendable {
        let sent = Mutex<[[CInt]]>([])

        func send(_ target: pid_t, _ signal: CInt) -> CInt {
            sent.withLock { $0.append([target, signal]) }
            return kill(target, signal)
        }
    }

    @Test(
        "the group is signalled while the leader runs and while it is a zombie, never once it is reaped",
        arguments: [true, false])
    func neverAfterReap(withPidfd: Bool) throws {
        let leader = try Self.spawnLeader()
        let pidfd = withPidfd ? medic_pidfd_open(leader) : -1
        if withPidfd { #expect(pidfd >= 0) }
        defer { if pidfd >= 0 { close(pidfd) } }
        let recorder = Recorder()
        var group = ProcessGroup(leader: leader, pidfd: pidfd)
        group.send = { recorder.send($0, $1) }

        #expect(group.leaderUnreaped)
        #expect(group.signal(SIGKILL) == .sent)
        // Dead but not reaped: the group id still cannot be reused, so signalling is still safe.
        var info = siginfo_t()
        #expect(waitid(P_PID, id_t(leader), &info, WEXITED | WNOWAIT) == 0)
        #expect(group.leaderUnreaped)
        #expect(group.signal(SIGTERM) != .refusedLeaderReaped)

        var status: CInt = 0
        #expect(waitpid(leader, &status, 0) == leader)
        #expect(!group.leaderUnreaped)
        #expect(group.signal(SIGKILL) == .refusedLeaderReaped)
        #expect(recorder.sent.withLock { $0 } == [[-leader, SIGKILL], [-leader, SIGTERM]])
    }
}
