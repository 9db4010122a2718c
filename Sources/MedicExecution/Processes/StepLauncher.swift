import CMedicStepLauncher
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// How a step is started under a launcher that supervises it, so that nothing it starts outlives its attempt or
/// the Medic that started it.
///
/// On Linux each step runs under a launcher (`launcher.c`): a small process that leads the attempt's session and
/// process group, is a child subreaper, gets a signal when Medic dies (`PR_SET_PDEATHSIG`, with a check for Medic
/// dying first), forks the step into a process group of its own, forwards SIGTERM, SIGINT and SIGHUP to that
/// group, and when the step exits, when Medic orders it (`killOrder`) or when Medic dies, kills the step's group
/// and everything the step orphaned (reparented to the launcher, its nearest subreaper), reaps them all and exits
/// as the step did. Medic waits on the launcher, signals only the launcher's group, and is not a subreaper
/// itself, so no orphan of a step can become a zombie of Medic.
///
/// The launcher is `medic-step-launcher` next to the running binary when it is there, and otherwise the running
/// binary itself (`/proc/self/exe`), whose C constructor from `CMedicStepLauncher` does the same, at the cost of
/// loading the whole binary (measured about 18 ms a step for a debug `medic`, against well under 1 ms for the
/// small launcher). Elsewhere the step is started directly.
enum StepLauncher {
    #if os(Linux)
        static let isAvailable = true
    #else
        static let isAvailable = false
    #endif

    static let fallback = "/proc/self/exe"

    /// The signal that orders the launcher to kill its step's whole tree now (the launcher's stand-in for SIGKILL).
    static let killOrder = CInt(medic_step_launcher_kill_order())

    /// How long Medic waits for a launcher to carry out `killOrder` before it SIGKILLs the launcher itself.
    static let killOrderGrace = Duration.seconds(6)

    /// `medic-step-launcher` next to the running binary when it is there, else the running binary itself.
    static let defaultLauncher: String = {
        guard let running = try? FileManager.default.destinationOfSymbolicLink(atPath: fallback) else {
            return fallback
        }
        let sibling = URL(fileURLWithPath: running).deletingLastPathComponent()
            .appendingPathComponent("medic-step-launcher").path
        return ExecutableLookup.isExecutable(sibling) ? sibling : fallback
    }()

    /// The executable and argv that start `executable` (found for `program`) with `arguments` through
    /// `launcher`, and the environment additions it needs.
    static func launch(executable: String, program: String, arguments: [String], launcher: String) -> (
        executable: String, argv0: String, arguments: [String], environment: [String: String]
    ) {
        guard isAvailable else { return (executable, program, arguments, [:]) }
        let variable = String(cString: medic_step_launcher_variable())
        let protocolPrefix = String(cString: medic_step_launcher_protocol())
        return (
            launcher, "medic-step-launcher", [executable, program] + arguments,
            [variable: protocolPrefix + "\(getpid())"]
        )
    }

    /// Kills a step's whole tree and returns when its leader has exited (or the last resort was taken).
    ///
    /// Under a launcher: the kill order (and SIGCONT, should the launcher be stopped), a wait of at most
    /// `killOrderGrace` for the launcher to sweep and exit, then SIGKILL to its group as the last resort. That wait
    /// runs on a Dispatch thread and ignores task cancellation: a cancelled attempt must still be swept. Without a
    /// launcher: SIGKILL to the step's group. Either way the group is signalled only while its leader is unreaped
    /// (`ProcessGroup`), and signalling a group whose leader has exited is harmless.
    static func killTree(_ group: ProcessGroup, exit: ExitWatcher) async {
        if isAvailable, !exit.hasExited {
            group.signal(killOrder)
            group.signal(SIGCONT)
            _ = await exit.waitIgnoringCancellation(upTo: killOrderGrace)
        }
        group.signal(SIGKILL)
    }
}
