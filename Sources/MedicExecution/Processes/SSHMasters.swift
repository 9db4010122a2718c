import Foundation
import MedicCore

/// Medic's own ControlMaster connections, one per host: started outside any step (a master started by an
/// attempt's `ssh` would be that step's descendant, and the step launcher kills everything a step leaves), kept
/// 60 s after their last use, closed by `SSHTransport.closeConnections`. Attempts on a host are clients of its
/// master; starting one is serialized per host, so two steps on a host never race to make two masters.
actor SSHMasters {
    static let shared = SSHMasters()

    /// Why a master could not be made: nothing ran on the host.
    struct Failure: Error, Sendable, Equatable {
        var kind: SSHTransport.Failure
        var reason: String
    }

    /// Masters being started, by the socket path ssh derives for the target (`ssh -G`): two spellings of one
    /// host (an alias, an explicit default port or user) share one start.
    private var starting: [String: Task<Result<Void, Failure>, Never>] = [:]

    /// A live master for `target`, made now if there is none.
    func ensure(_ target: ResolvedTarget, settings: SSHSettings) async -> Result<Void, Failure> {
        guard case .success(let directory) = SSHTransport.controlDirectory(settings) else {
            return .failure(Failure(kind: .unreachable, reason: "no private ControlMaster directory"))
        }
        let common = Self.common(target, settings: settings, directory: directory)
        if await Self.run(common + ["-O", "check", "--", target.host], timeout: .seconds(10)).status == 0 {
            return .success(())
        }
        let resolved = await Self.run(common + ["-G", "--", target.host], timeout: .seconds(10), output: true)
        guard resolved.status == 0,
            let socket = resolved.stdout.split(separator: "\n").first(where: { $0.hasPrefix("controlpath ") })
                .map({ String($0.dropFirst("controlpath ".count)) })
        else {
            return .failure(Failure(kind: .unreachable, reason: "ssh -G: \(resolved.stderr.split(separator: "\n").last ?? "failed")"))
        }
        if let running = starting[socket] { return await running.value }
        let task = Task { await Self.start(target, common: common, socket: socket) }
        starting[socket] = task
        let result = await task.value
        starting[socket] = nil
        return result
    }

    private static func common(_ target: ResolvedTarget, settings: SSHSettings, directory: String) -> [String] {
        var common = SSHTransport.configArguments(settings)
        common += ["-o", "ControlPath=\(directory)/%C"]
        if let user = target.user { common += ["-l", user] }
        if let port = target.port { common += ["-p", String(port)] }
        return common
    }

    private static func start(_ target: ResolvedTarget, common: [String], socket: String) async -> Result<Void, Failure> {
        // Another start may have finished meanwhile.
        if await run(common + ["-O", "check", "--", target.host], timeout: .seconds(10)).status == 0 {
            return .success(())
        }
        // A socket nobody answers on (its master was killed) would make ssh give up multiplexing and stay on
        // as a plain connection nobody closes: remove it first.
        unlink(socket)
        // `-f` with ControlPersist: after authentication the master goes to the background with its standard
        // streams on /dev/null, and this ssh exits 0.
        let made = await run(
            common + SSHTransport.fixedOptions + [
                "-o", "ControlMaster=yes", "-o", "ControlPersist=60", "-N", "-f", "-T", "--", target.host,
            ], timeout: .seconds(40))
        guard made.status == 0 else {
            let reason = made.stderr.split(separator: "\n").last.map(String.init) ?? "ssh failed"
            return .failure(Failure(kind: SSHTransport.failure(stderr: made.stderr), reason: reason))
        }
        if await run(common + ["-O", "check", "--", target.host], timeout: .seconds(10)).status == 0 {
            return .success(())
        }
        return .failure(Failure(kind: .unreachable, reason: "the connection to \(target) did not become a master: \(made.stderr)"))
    }

    private static func run(_ arguments: [String], timeout: Duration, output: Bool = false) async
        -> SSHTransport.LocalRun
    {
        await SSHTransport.runSSH(arguments, timeout: timeout, outputLimit: output ? 262_144 : 65_536)
    }
}
