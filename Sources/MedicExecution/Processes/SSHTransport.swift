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

    /// Why `path` cannot serve as `--ssh-config`, or nil. ssh reads an included file only when it is owned by
    /// the user or root and writable by no one else ("Bad owner or permissions"): refused at start rather
    /// than failing every remote step.
    public static func configProblem(_ path: String) -> String? {
        guard FileManager.default.isReadableFile(atPath: path) else { return "cannot read \(path)" }
        var info = stat()
        guard stat(path, &info) == 0 else { return "cannot read \(path)" }
        if info.st_uid != geteuid() && info.st_uid != 0 {
            return "\(path) must be owned by this user or root (ssh refuses it otherwise)"
        }
        if info.st_mode & 0o022 != 0 {
            return "\(path) must not be writable by group or others (ssh refuses it otherwise): chmod go-w \(path)"
        }
        return nil
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
    /// The start mark's line removed from `stderr`, and the remote shell's pid it carries (its session's id);
    /// nil when the mark is not there (the remote shell never started).
    static func takeStartMark(_ stderr: String) -> (started: Bool, session: Int?, stderr: String) {
        guard let range = stderr.range(of: startMarker) else { return (false, nil, stderr) }
        let rest = stderr[range.upperBound...]
        let end = rest.firstIndex(of: "\n") ?? rest.endIndex
        let session = Int(rest[..<end].trimmingCharacters(in: .whitespaces)).flatMap { $0 > 1 ? $0 : nil }
        let after = end < rest.endIndex ? rest.index(after: end) : end
        return (true, session, String(stderr[..<range.lowerBound]) + String(stderr[after...]))
    }

    /// Written by the remote shell after its sweep, right before it exits with the command's status: nothing
    /// of the attempt is left on the target. Named by the attempt's token, which no label or output can
    /// guess; removed from the captured stderr.
    static func endMarker(token: String) -> String { "\u{1E}medic-remote-swept-\(token)\u{1E}" }

    /// Options a `ssh_config` cannot weaken: given first on the command line, they win. `LogLevel=ERROR` keeps
    /// ssh's host-key messages, which tell "unknown" from "changed"; nothing is forwarded to a sick host.
    static let fixedOptions = [
        "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10",
        "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3", "-o", "ForwardAgent=no",
        "-o", "ClearAllForwardings=yes", "-o", "PermitLocalCommand=no",
    ]

    /// The private ControlMaster directory of this process: made by `mkdtemp` (a fresh name, mode 0700), so
    /// that no other user can have placed a directory or a socket there first.
    static let defaultControlDirectory: Result<String, Unsendable> = {
        var template = Array(
            (controlBase(temporary: FileManager.default.temporaryDirectory.path) + "/medic-ssh-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            return .failure(Unsendable(reason: "cannot make a private ControlMaster directory: \(errno)"))
        }
        return .success(String(cString: made))
    }()

    /// The longest directory a ControlMaster socket fits in: a socket path has at most 107 bytes, and ssh
    /// binds `DIR/%C` (40 hex digits) with a 17-byte temporary suffix first.
    static let maximumControlDirectoryLength = 107 - 1 - 40 - 17

    /// Where the private directory is made: the temporary directory, or `/tmp` when that is too long for a
    /// socket path (a deep `TMPDIR` would otherwise fail every remote step with "ControlPath too long").
    static func controlBase(temporary: String) -> String {
        let base = temporary.hasSuffix("/") && temporary.count > 1 ? String(temporary.dropLast()) : temporary
        return base.utf8.count + "/medic-ssh-XXXXXX".utf8.count <= maximumControlDirectoryLength ? base : "/tmp"
    }

    /// A directory ControlMaster sockets may live in: ours, mode 0700, not a symlink. Anything else would let
    /// another local user stand in for the master and read what Medic sends (secrets included).
    static func controlDirectory(_ settings: SSHSettings) -> Result<String, Unsendable> {
        guard let configured = settings.controlDirectory else { return defaultControlDirectory }
        guard configured.utf8.count <= maximumControlDirectoryLength else {
            return .failure(
                Unsendable(
                    reason:
                        "ControlMaster directory \(configured) is too long for a socket path (at most \(maximumControlDirectoryLength) bytes)"
                ))
        }
        var info = stat()
        guard lstat(configured, &info) == 0 else {
            return .failure(Unsendable(reason: "ControlMaster directory \(configured) does not exist"))
        }
        guard info.st_mode & S_IFMT == S_IFDIR, info.st_uid == geteuid(), info.st_mode & 0o077 == 0 else {
            return .failure(
                Unsendable(reason: "ControlMaster directory \(configured) must be a directory of ours with mode 0700"))
        }
        return .success(configured)
    }

    /// The file given to `ssh -F`: Medic's fixed options first, then the user's configuration by `Include`
    /// (`--ssh-config`, or else `~/.ssh/config` and `/etc/ssh/ssh_config`, which ssh reads when there is no
    /// `-F`). In an ssh_config the first value of an option wins, so nothing included can weaken them, and
    /// unlike `-o` options a file given with `-F` also governs the ssh that `ProxyJump` starts for each jump
    /// host: a jump host's key is checked as strictly as the target's. Written once per configuration into
    /// the private ControlMaster directory.
    static func configFile(_ settings: SSHSettings) -> Result<String, Unsendable> {
        let directory: String
        switch controlDirectory(settings) {
        case .success(let made): directory = made
        case .failure(let problem): return .failure(problem)
        }
        let included: [String]
        if let configured = settings.configFile {
            included = [URL(fileURLWithPath: configured).standardizedFileURL.path]
        } else {
            included = [
                URL(fileURLWithPath: NSHomeDirectory()).appendingPathComponent(".ssh/config").path,
                "/etc/ssh/ssh_config",
            ]
        }
        if let bad = included.first(where: { $0.contains("\"") || $0.contains("\n") || $0.contains("\r") }) {
            return .failure(Unsendable(reason: "ssh config path \(quote(bad)) holds a quote or a line break"))
        }
        var lines = ["# Written by Medic: its own options first (the first value of an option wins), then yours."]
        for index in stride(from: 0, to: fixedOptions.count, by: 2) {
            lines.append(fixedOptions[index + 1].replacingOccurrences(of: "=", with: " "))
        }
        lines += included.map { "Include \"\($0)\"" }
        let text = lines.joined(separator: "\n") + "\n"
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let path = "\(directory)/config-\(String(hash, radix: 16))"
        if (try? String(contentsOfFile: path, encoding: .utf8)) == text { return .success(path) }
        do {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            return .failure(Unsendable(reason: "cannot write \(path): \(error.localizedDescription)"))
        }
        return .success(path)
    }

    /// Closes every ControlMaster connection in this process's directory and removes it (on shutdown).
    public static func closeConnections(_ settings: SSHSettings = SSHSettings()) async {
        guard case .success(let directory) = controlDirectory(settings) else { return }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for socket in entries where !socket.hasPrefix("config-") {
            _ = try? await Subprocess.run(
                .name("ssh"), arguments: ["-o", "ControlPath=\(directory)/\(socket)", "-O", "exit", "medic-master"],
                output: .discarded, error: .discarded)
        }
        if settings.controlDirectory == nil {
            try? FileManager.default.removeItem(atPath: directory)
        } else {
            for file in entries where file.hasPrefix("config-") {
                try? FileManager.default.removeItem(atPath: "\(directory)/\(file)")
            }
        }
    }

    /// `-F` with Medic's configuration file. The attempt checked that the file could be written
    /// (`SubprocessRunner`); were it gone since, the user's own file still comes, with the fixed options on
    /// the command line.
    static func configArguments(_ settings: SSHSettings) -> [String] {
        switch configFile(settings) {
        case .success(let wrapper): ["-F", wrapper]
        case .failure: settings.configFile.map { ["-F", $0] } ?? []
        }
    }

    /// The argv of the local `ssh` process; `shared`: through the ControlMaster connection to the host.
    public static func arguments(
        for target: ResolvedTarget, settings: SSHSettings, shared: Bool, remoteCommand: String
    ) -> [String] {
        var argv = ["ssh"] + configArguments(settings)
        argv += fixedOptions
        // A client of Medic's own master (`SSHMasters`), never a master itself: a master started by an attempt
        // would be the attempt's descendant and die with it (the step launcher sweeps what a step leaves). With
        // the master gone, ssh connects directly.
        if shared, case .success(let directory) = controlDirectory(settings) {
            argv += ["-o", "ControlMaster=no", "-o", "ControlPath=\(directory)/%C"]
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
        // Not LANG: Debian's ssh_config sends it (SendEnv LANG LC_*), and a remote step gets no value of the
        // Medic host's environment.
        for name in ["HOME", "USER", "LOGNAME", "SSH_AUTH_SOCK"] {
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
    ///
    /// The command runs in a subshell that takes the step's environment and the token: the shell that sweeps
    /// afterwards keeps its own (an `env` entry such as `IFS` cannot change how it works), and does not carry
    /// the token.
    static func script(for request: AttemptRequest, token: String) -> Result<String, Unsendable> {
        // The shell outlives a SIGTERM sent to the attempt (a handler, not an ignored signal, so the command
        // still gets the default), so that it can sweep once the command is gone.
        // The start mark carries the shell's pid: its session's id, for a sweep after the shell is gone.
        var lines = ["printf '%s %s\\n' \(quote(startMarker)) \"$$\" >&2", "trap : TERM", "("]
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
        // Last, so that no `env` entry can replace it.
        lines += ["MEDIC_REMOTE_TOKEN=\(token)", "export MEDIC_REMOTE_TOKEN"]
        if let workdir = request.workdir {
            lines.append("cd -- \(quote(workdir)) || exit 126")
        }
        switch request.command {
        case .argv(let argv):
            guard !argv.isEmpty else { return .failure(Unsendable(reason: "empty command")) }
            if let bad = argv.first(where: { $0.unicodeScalars.contains("\0") }) {
                return .failure(Unsendable(reason: "argument \(quote(bad)) contains a NUL byte"))
            }
            lines.append("exec " + argv.map(quote).joined(separator: " ") + " </dev/null")
        case .shell(let body):
            lines.append("exec /bin/sh -eu -c \(quote(body)) medic-step </dev/null")
        }
        // As locally, what the step left running dies with it: whatever carries the token, and whatever is in
        // the shell's session (sshd made the shell a session leader), even with its environment cleared. The
        // end mark says the sweep left nothing; without it Medic sweeps again through a connection of its own.
        lines += [")", "medic_status=$?", killer(token: token, signal: "KILL", session: "$$")]
        lines += [
            "if [ -z \"$medic_survivors\" ]; then printf '%s\\n' \(quote(endMarker(token: token))) >&2;"
                + " else echo \"medic: still running on the target after the step: pids$medic_survivors\" >&2; fi",
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

    /// The remote command of an attempt: its shell, named by the token on its command line (not a secret), so
    /// that a kill can find its session even when every process in it has cleared its environment.
    static func remoteCommand(token: String) -> String {
        "exec /bin/sh -s medic-\(token)"
    }

    /// Shell functions and a pass that signals the attempt's processes on the target: every process whose
    /// environment carries the token, and every process in session `session` (a shell word; empty for none).
    /// For SIGKILL the processes are first stopped, round after round until a scan finds no new one (a step
    /// that keeps forking cannot outrun it), then killed; what is still alive afterwards (a process of another
    /// user) is left in `$medic_survivors`. The pids signalled are in `$medic_hit`. Patterns are written so
    /// that the scan never matches itself; only shell builtins read /proc/PID/stat, so a process that exits
    /// mid-scan is skipped, never fatal.
    static func killer(token: String, signal: String, session: String) -> String {
        let head = String(token.prefix(1))
        let rest = String(token.dropFirst())
        return [
            "medic_sid=\(session)",
            // /proc/PID/stat, whole: a command name may hold a newline, so lines are joined until the name ends.
            "medic_stat() {",
            "  medic_l=''",
            "  { while IFS= read -r medic_x || [ -n \"$medic_x\" ]; do medic_l=\"$medic_l$medic_x \"; medic_x=''; done < \"$1\"; } 2>/dev/null",
            "  case \"$medic_l\" in *') '*) ;; *) return 1 ;; esac",
            "  medic_r=${medic_l##*) }",
            "}",
            "medic_scan() {",
            "  grep -lzx 'MEDIC_REMOTE_TOKEN=[\(head)]\(rest)' /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3",
            "  [ -n \"$medic_sid\" ] || return 0",
            "  for medic_f in /proc/[0-9]*/stat; do",
            "    medic_stat \"$medic_f\" || continue",
            "    set -f; set -- $medic_r; set +f",
            "    if [ \"$4\" = \"$medic_sid\" ]; then medic_p=${medic_f#/proc/}; echo \"${medic_p%/stat}\"; fi",
            "  done",
            "}",
            "medic_alive() {",
            "  medic_stat \"/proc/$1/stat\" || return 1",
            "  set -f; set -- $medic_r; set +f; [ \"$1\" != Z ] && [ \"$1\" != X ]",
            "}",
            "medic_hit=''; medic_seen=''; medic_survivors=''",
            signal == "KILL"
                ? [
                    // Freeze what is found, round after round, until a scan finds nothing new; a process that
                    // cannot be stopped (another user's) and lives is a survivor.
                    "medic_round=0",
                    "while [ $medic_round -lt 100 ]; do",
                    "  medic_new=''",
                    "  for p in $(medic_scan | sort -un); do",
                    "    [ \"$p\" = \"$$\" ] && continue",
                    "    case \" $medic_seen \" in *\" $p \"*) continue ;; esac",
                    "    medic_seen=\"$medic_seen $p\"; medic_new=x",
                    "    if kill -s STOP \"$p\" 2>/dev/null; then medic_hit=\"$medic_hit $p\";"
                        + " elif medic_alive \"$p\"; then medic_survivors=\"$medic_survivors $p\"; fi",
                    "  done",
                    "  [ -z \"$medic_new\" ] && break",
                    "  medic_round=$((medic_round + 1))",
                    "done",
                    // Nothing found (the common end of a step): done, without a second look. Otherwise SIGKILL,
                    // then up to 5 s for the dying to die (a large process takes time to give back its memory).
                    "if [ -n \"$medic_hit\" ]; then",
                    "  for p in $medic_hit; do kill -s KILL \"$p\" 2>/dev/null; done",
                    "  medic_wait=0",
                    "  while [ $medic_wait -lt 50 ]; do",
                    "    medic_left=''",
                    "    for p in $medic_hit; do medic_alive \"$p\" && medic_left=\"$medic_left $p\"; done",
                    "    [ -z \"$medic_left\" ] && break",
                    "    sleep 0.1; medic_wait=$((medic_wait + 1))",
                    "  done",
                    "  medic_survivors=\"$medic_survivors$medic_left\"",
                    "fi",
                ].joined(separator: "\n")
                : [
                    "for p in $(medic_scan | sort -un); do",
                    "  [ \"$p\" = \"$$\" ] && continue",
                    "  kill -s \(signal) \"$p\" 2>/dev/null && medic_hit=\"$medic_hit $p\"",
                    "done",
                ].joined(separator: "\n"),
        ].joined(separator: "\n")
    }

    /// The pass run through a second connection: finds the session of the attempt's shell (the process whose
    /// command line is `/bin/sh -s medic-TOKEN` and which leads its own session), signals (`killer`), and
    /// reports what it hit and what survived. A target without /proc or grep says so instead of "done".
    static func finderScript(token: String, signal: String, session: Int? = nil) -> String {
        let head = String(token.prefix(1))
        let rest = String(token.dropFirst())
        return [
            "[ -r /proc/self/stat ] || { echo 'medic-kill-failed: no /proc'; exit 0; }",
            "command -v grep >/dev/null 2>&1 || { echo 'medic-kill-failed: no grep'; exit 0; }",
            // The session is known when the remote shell reported it (its leader may be gone by now).
            "medic_leader='\(session.map(String.init) ?? "")'",
            "[ -n \"$medic_leader\" ] ||",
            "for medic_p in $(grep -lzx 'medic-[\(head)]\(rest)' /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do",
            "  { read -r medic_l < \"/proc/$medic_p/stat\"; } 2>/dev/null || continue",
            "  medic_r=${medic_l##*) }; set -f; set -- $medic_r; set +f",
            "  [ \"$4\" = \"$medic_p\" ] && medic_leader=$medic_p",
            "done",
            killer(token: token, signal: signal, session: "\"$medic_leader\""),
            "for p in $medic_hit; do echo \"$p\"; done",
            "[ -n \"$medic_survivors\" ] && echo \"medic-kill-survivors:$medic_survivors\"",
            "echo medic-kill-done",
        ].joined(separator: "\n")
    }

    /// What a pass on the target did: the pids signalled, and (for SIGKILL) those still alive after it.
    struct RemoteSignal: Sendable, Equatable {
        var pids: [Int]
        var survivors: [Int]
    }

    /// Signals, on the target, the attempt's processes (`finderScript`): through Medic's connection to the host
    /// first, then through a fresh one (the first may be what is stuck). Fails with the reason when neither
    /// reached the target or the target could not look (no /proc, no grep).
    static func signalRemote(
        _ target: ResolvedTarget, token: String, signal: String, settings: SSHSettings, session: Int? = nil,
        timeout: Duration = .seconds(30)
    ) async -> Result<RemoteSignal, Unsendable> {
        let finder = finderScript(token: token, signal: signal, session: session)
        var last = "no answer"
        for shared in [true, false] {
            let argv = arguments(
                for: target, settings: settings, shared: shared, remoteCommand: "exec /bin/sh -c \(quote(finder))")
            guard let output = await runLocally(argv, timeout: timeout) else { continue }
            if let failure = output.split(separator: "\n").first(where: { $0.hasPrefix("medic-kill-failed: ") }) {
                return .failure(Unsendable(reason: String(failure.dropFirst("medic-kill-failed: ".count))))
            }
            guard output.contains("medic-kill-done") else {
                last = "the kill did not finish"
                continue
            }
            let lines = output.split(separator: "\n")
            let survivors =
                lines.first { $0.hasPrefix("medic-kill-survivors:") }.map {
                    $0.dropFirst("medic-kill-survivors:".count).split(separator: " ").compactMap { Int($0) }
                } ?? []
            return .success(RemoteSignal(pids: lines.compactMap { Int($0) }, survivors: survivors))
        }
        return .failure(Unsendable(reason: "could not reach \(target): \(last)"))
    }

    /// Runs a local ssh (not under the step launcher) and returns its standard output, or nil when it gave
    /// none within `timeout`. Not cancelled with the calling task: a kill must finish even when the attempt it
    /// stops ends (and its watcher is cancelled) while the kill is on its way.
    static func runLocally(_ argv: [String], timeout: Duration) async -> String? {
        await Task {
            let result = await runSSH(Array(argv.dropFirst()), timeout: timeout)
            return result.answered ? result.stdout : nil
        }.value
    }

    /// What a local ssh printed, and how it ended (255 when it could not start or gave no answer in time).
    struct LocalRun: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
        /// It ran to its end (whatever its status) within the time it had.
        var answered: Bool
    }

    /// Runs ssh with `arguments` in a session of its own (never under the step launcher), for at most
    /// `timeout`, with the environment it needs to find the user's keys and agent (`localEnvironment`).
    static func runSSH(_ arguments: [String], timeout: Duration, outputLimit: Int = 65_536) async -> LocalRun {
        let local = localEnvironment()
        var environment: [Environment.Key: String] = [:]
        for (key, value) in local {
            if let name = Environment.Key(rawValue: key) { environment[name] = value }
        }
        guard let executable = try? ExecutableLookup.resolve("ssh", path: local["PATH"]).get() else {
            return LocalRun(status: 255, stdout: "", stderr: "ssh: not found in PATH", answered: false)
        }
        var options = PlatformOptions()
        options.createSession = true
        let configuration = Configuration(
            executable: .path(FilePath(executable)), arguments: Arguments(arguments),
            environment: .custom(environment), platformOptions: options)
        return await withTaskGroup(of: LocalRun?.self) { group in
            group.addTask {
                guard
                    let result = try? await Subprocess.run(
                        configuration, input: .none, output: .string(limit: outputLimit),
                        error: .string(limit: 65_536))
                else { return LocalRun(status: 255, stdout: "", stderr: "ssh could not be started", answered: false) }
                let status: Int32
                switch result.terminationStatus {
                case .exited(let code): status = code
                case .signaled: status = 255
                }
                return LocalRun(
                    status: status, stdout: result.standardOutput ?? "", stderr: result.standardError ?? "",
                    answered: true)
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
                ?? LocalRun(
                    status: 255, stdout: "", stderr: "ssh: no answer within \(timeout.dslDescription)", answered: false)
        }
    }
}
