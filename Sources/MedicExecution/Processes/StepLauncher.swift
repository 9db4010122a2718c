import CMedicStepLauncher
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// How a step's leader is started so that it dies with the Medic that started it, and how an attempt marks every
/// process it starts.
///
/// On Linux the leader is started as a launcher with the launcher variable set: the launcher arms
/// `PR_SET_PDEATHSIG` (SIGKILL), checks the parent is still this process, and execs the step (see `launcher.c`
/// for why that is sound with swift-subprocess's spawn thread). The launcher is `medic-step-launcher` next to
/// the running binary when it is there, and otherwise the running binary itself (`/proc/self/exe`), whose C
/// constructor from `CMedicStepLauncher` does the same, at the cost of loading the whole binary (measured
/// about 18 ms a step for a debug `medic`, against well under 1 ms for the small launcher). Elsewhere the
/// step is started directly.
///
/// Every attempt also gets `MEDIC_ATTEMPT_TOKEN`, unique to the attempt in this process. Environment variables
/// survive `setsid`, double forks and re-parenting, so the token finds what the step started after it left
/// the process group (`EscapedDescendants`).
enum StepLauncher {
    static let tokenVariable = "MEDIC_ATTEMPT_TOKEN"

    private static let counter = Atomic<UInt64>(0)

    /// A token no other attempt of this or another running Medic carries.
    static func newToken() -> String {
        let next = counter.add(1, ordering: .relaxed).newValue
        return "\(getpid())-\(next)-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Makes this process a child subreaper once, so that descendants of steps whose parents exit are
    /// re-parented here, where `EscapedDescendants` can find, kill and reap them, not to init.
    static let becomeSubreaper: Bool = medic_set_child_subreaper() == 0

    #if os(Linux)
        static let isAvailable = true
    #else
        static let isAvailable = false
    #endif

    static let fallback = "/proc/self/exe"

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
        return (launcher, "medic-step-launcher", [executable, program] + arguments, [variable: "\(getpid())"])
    }
}
