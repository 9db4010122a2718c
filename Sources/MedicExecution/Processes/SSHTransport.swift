import Foundation
import MedicCore
import Subprocess

#if canImport(System)
    import System
#else
    import SystemPackage
#endif

/// How Medic reaches remote targets: the system OpenSSH client, with the user's keys, agent and
/// `ssh_config`, and Medic's own non-negotiable options.
public struct SSHSettings: Sendable, Equatable {
    /// `--ssh-config FILE` (`ssh -F`); nil reads the user's own configuration.
    public var configFile: String?
    /// Where ControlMaster sockets live; nil makes a private directory per process.
    public var controlDirectory: String?

    public init(configFile: String? = nil, controlDirectory: String? = nil) {
        self.configFile = configFile
        self.controlDirectory = controlDirectory
    }
}

/// A remote attempt: `ssh … -- HOST 'exec /bin/sh -s'`, with the step's environment and command sent as a
/// script on standard input, so that no value (secrets included) is ever on a command line, local or remote.
/// Every argument is quoted for the remote POSIX shell and arrives as exactly one argument.
///
/// The remote shell marks its start on standard error (so that ssh's own failures, exit 255, are told
/// apart from the command's), exports a token unique to the attempt, runs the command, then kills whatever
/// the command left behind that carries the token, and exits with the command's status. To stop it early, a
/// second connection signals every process on the target whose environment carries the token: the
/// command, its group, and anything it started that kept its environment.
public enum SSHTransport {
    /// Written by the remote shell before it runs anything; removed from the captured stderr.
    static let startMarker = "\u{1E}medic-remote-started\u{1E}"

    /// Options a `ssh_config` cannot weaken: given first on the command line, they win.
    static let fixedOptions = [
        "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=10",
        "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
    ]

    /// The private ControlMaster directory of this process, made on first use (mode 0700).
    static let defaultControlDirectory: String = {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("medic-ssh-\(getuid())-\(getpid())").path
        try? FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return path
    }()

    /// The argv of the local `ssh` process; `shared`: through the ControlMaster connection to the host.
    public static func arguments(
        for target: ResolvedTarget, settings: SSHSettings, shared: Bool, remoteCommand: String
    ) -> [String] {
        var argv = ["ssh"]
        if let config = settings.configFile { argv += ["-F", config] }
        argv += fixedOptions
        if shared {
            let directory = settings.controlDirectory ?? defaultControlDirectory
            argv += ["-o", "ControlMaster=auto", "-o", "ControlPath=\(directory)/%C", "-o", "ControlPersist=60"]
        } else {
            argv += ["-o", "ControlMaster=no", "-o", "ControlPath=none"]
        }
        argv += ["-T"]
        if let user = target.user { argv += ["-l", user] }
        if let port = target.port { argv += ["-p", String(port)] }
        argv += ["--", target.host, remoteCommand]
        return argv
    }

    /// The environment of the local `ssh` process: what it needs to find the user's keys, agent and
    /// configuration. The step's own environment goes to the remote side, in the script.
    static func localEnvironment(_ own: [String: String] = ProcessInfo.processInfo.environment) -> [String: String] {
        var environment: [String: String] = ["PATH": own["PATH"] ?? PreparedRun.defaultPath]
        for name in ["HOME", "USER", "LOGNAME", "SSH_AUTH_SOCK", "LANG"] {
            if let value = own[name] { environment[name] = value }
        }
        return environment
    }

    /// `text` as one word of a POSIX shell, whatever it holds: single quotes, each `'` written as `'\''`.
    static func quote(_ text: String) -> String {
        var quoted = String.UnicodeScalarView()
        quoted.append("'")
        for scalar in text.unicodeScalars {
            if scalar == "'" { quoted.append(contentsOf: "'\\''".unicodeScalars) } else { quoted.append(scalar) }
        }
        quoted.append("'")
        return String(quoted)
    }

    struct Unsendable: Error {
        var reason: String
    }

    /// The script the remote `/bin/sh -s` reads, or why something cannot be sent (a NUL byte).
    static func script(for request: AttemptRequest, token: String) -> Result<String, Unsendable> {
        var lines = ["printf '%s\\n' \(quote(startMarker)) >&2", "MEDIC_REMOTE_TOKEN=\(token)", "export MEDIC_REMOTE_TOKEN"]
        for name in request.environment.keys.sorted() {
            let value = request.environment[name]!
            guard !value.unicodeScalars.contains("\0") else { return .failure(Unsendable(reason: "env \(name) contains a NUL byte")) }
            let isName =
                name.unicodeScalars.first.map { !("0"..."9").contains($0) } ?? false
                && name.unicodeScalars.allSatisfy {
                    $0 == "_" || ("A"..."Z").contains($0) || ("a"..."z").contains($0) || ("0"..."9").contains($0)
                }
            guard isName else { return .failure(Unsendable(reason: "env name \(name) is not a shell variable name")) }
            lines.append("\(name)=\(quote(value)); export \(name)")
        }
        if let workdir = request.workdir {
            lines.append("cd -- \(quote(workdir)) || exit 126")
        }
        switch request.command {
        case .argv(let argv):
            guard !argv.isEmpty else { return .failure(Unsendable(reason: "empty command")) }
            if let bad = argv.first(where: { $0.unicodeScalars.contains("\0") }) {
                return .failure(Unsendable(reason: "argument \(quote(bad)) contains a NUL byte"))
            }
            lines.append(argv.map(quote).joined(separator: " ") + " </dev/null")
        case .shell(let body):
            lines.append("/bin/sh -eu -c \(quote(body)) medic-step </dev/null")
        }
        // As locally, what the step left running dies with it: the shell itself does not carry the token
        // (it exported it after it started), and once it is unset the finder's own processes do not either.
        lines += [
            "medic_status=$?", "unset MEDIC_REMOTE_TOKEN",
            "for d in /proc/[0-9]*; do if tr '\\000' '\\n' < \"$d/environ\" 2>/dev/null | grep -qx 'MEDIC_REMOTE_TOKEN=\(token)'; "
                + "then kill -s KILL \"${d#/proc/}\" 2>/dev/null; fi; done",
            "exit \"$medic_status\"",
        ]
        return .success(lines.joined(separator: "\n") + "\n")
    }

    /// How an ssh exit of 255 that happened before the remote shell started reads: host key, or transport.
    enum Failure: Equatable {
        case hostKeyUnknown, hostKeyChanged, unreachable
    }

    static func failure(stderr: String) -> Failure {
        if stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") || stderr.contains("Host key for")
            && stderr.contains("has changed")
        {
            return .hostKeyChanged
        }
        if stderr.contains("Host key verification failed") || stderr.contains("No ED25519 host key is known")
            || stderr.contains("host key is known") || stderr.contains("No matching host key")
        {
            return .hostKeyUnknown
        }
        return .unreachable
    }

    /// Signals, on the target, every process whose environment carries `token`, through a connection of its
    /// own (the attempt's may be stuck). Returns the pids signalled, or nil when the target could not be
    /// reached.
    static func signalRemote(
        _ target: ResolvedTarget, token: String, signal: String, settings: SSHSettings, timeout: Duration = .seconds(10)
    ) async -> [Int]? {
        let finder =
            "for d in /proc/[0-9]*; do "
            + "if tr '\\000' '\\n' < \"$d/environ\" 2>/dev/null | grep -qx 'MEDIC_REMOTE_TOKEN=\(token)'; then "
            + "p=${d#/proc/}; kill -s \(signal) \"$p\" 2>/dev/null && echo \"$p\"; fi; done; echo medic-kill-done"
        let argv = arguments(
            for: target, settings: settings, shared: false, remoteCommand: "exec /bin/sh -c \(quote(finder))")
        var environment: [Environment.Key: String] = [:]
        for (key, value) in localEnvironment() {
            if let name = Environment.Key(rawValue: key) { environment[name] = value }
        }
        guard let executable = try? ExecutableLookup.resolve("ssh", path: localEnvironment()["PATH"]).get() else {
            return nil
        }
        var options = PlatformOptions()
        options.createSession = true
        let configuration = Configuration(
            executable: .path(FilePath(executable)), arguments: Arguments(Array(argv.dropFirst())),
            environment: .custom(environment), platformOptions: options)
        let outcome: String? = await withTaskGroup(of: String?.self) { group in
            group.addTask {
                let result = try? await Subprocess.run(configuration, output: .string(limit: 65_536), error: .discarded)
                return result?.standardOutput
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        guard let output = outcome, output.contains("medic-kill-done") else { return nil }
        return output.split(separator: "\n").compactMap { Int($0) }
    }
}
