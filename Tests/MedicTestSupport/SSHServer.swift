import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A real sshd on a loopback address, for tests: its own host key, an authorized client key, a known_hosts file
/// and an ssh_config that point at them; stopped by pid.
///
/// Nothing outside `directory` and the process-wide client key's directory is read or written: sshd reads only
/// its own `sshd_config` (no `Include` of `/etc/ssh/sshd_config.d`), and `ssh -F configFile` reads neither
/// `/etc/ssh/ssh_config` nor `~/.ssh`. As root, sshd needs its privilege-separation directory `/run/sshd`, which
/// is created if missing (as the openssh-server package's own service would); as any other user sshd runs without
/// privilege separation and can only log that user in.
///
/// Connect with `ssh -F server.configFile -p server.port -- server.address COMMAND`.
public final class SSHServer: Sendable {
    /// The loopback address sshd listens on, such as `127.0.0.2`.
    public let address: String
    public let port: Int
    /// The temporary directory holding the keys, the configurations and `sshd.log`; removed by `stop()`.
    public let directory: URL
    /// An ssh_config for `ssh -F`: the client key, a known_hosts file holding this server's host key, strict host
    /// key checking, batch mode and the current user. It sets no port: pass `-p port`.
    public let configFile: URL
    /// The current user, the one the client logs in as.
    public let user: String

    /// The running sshd's pid, until it is reaped.
    private let sshd = Mutex<pid_t?>(nil)

    private init(address: String, port: Int, directory: URL, user: String) {
        self.address = address
        self.port = port
        self.directory = directory
        self.configFile = directory.appending(path: "ssh_config")
        self.user = user
    }

    deinit { stop() }

    /// Starts sshd on a free port of `address` and returns once `ssh -F configFile` runs a command on it.
    public static func start(address: String) throws -> SSHServer {
        var lastError: (any Error)?
        // A free port may be taken between choosing it and sshd binding it: try another one.
        for _ in 0..<3 {
            let directory = FileManager.default.temporaryDirectory
                .appending(path: "medic-sshd-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let server = SSHServer(
                address: address, port: try freePort(on: address), directory: directory, user: try currentUser())
            do {
                let client = try ClientKey.shared.get()
                try Data(contentsOf: client.appendingPathExtension("pub"))
                    .write(to: directory.appending(path: "authorized_keys"))
                try server.generateHostKey()
                try server.writeSSHDConfig()
                _ = try sharedConfig(for: [server], in: directory)
                try server.launch()
                return server
            } catch {
                server.stop()
                lastError = error
            }
        }
        throw lastError!
    }

    /// Writes `ssh_config` and `known_hosts` into `directory` for connecting to any of `servers` (they all authorize
    /// the same client key), and returns the ssh_config.
    public static func sharedConfig(for servers: [SSHServer], in directory: URL) throws -> URL {
        let knownHosts = directory.appending(path: "known_hosts")
        try servers.map { try $0.knownHostsLine() }.joined().write(to: knownHosts, atomically: true, encoding: .utf8)
        let config = directory.appending(path: "ssh_config")
        try """
        User \(try currentUser())
        IdentityFile \(try ClientKey.shared.get().path)
        IdentitiesOnly yes
        IdentityAgent none
        UserKnownHostsFile \(knownHosts.path)
        GlobalKnownHostsFile /dev/null
        StrictHostKeyChecking yes
        CheckHostIP no
        UpdateHostKeys no
        BatchMode yes
        ConnectTimeout 5

        """.write(to: config, atomically: true, encoding: .utf8)
        return config
    }

    /// Empties this server's known_hosts file, so that strict host key checking fails for an unknown key.
    public func forgetHostKey() throws {
        try Data().write(to: directory.appending(path: "known_hosts"))
    }

    /// Gives sshd a new host key and restarts it on the same port, leaving every known_hosts file stale.
    public func replaceHostKey() throws {
        stopSSHD()
        for name in ["host_key", "host_key.pub"] {
            try? FileManager.default.removeItem(at: directory.appending(path: name))
        }
        try generateHostKey()
        try launch()
    }

    /// Stops the listening sshd only: sessions already open go on, new connections are refused (a host that
    /// drops off the network while a command runs there, as far as a second connection can tell).
    public func stopListening() {
        stopSSHD()
    }

    /// Stops sshd by pid (SIGTERM, then SIGKILL after 5 s) and removes `directory`. Idempotent.
    public func stop() {
        stopSSHD()
        try? FileManager.default.removeItem(at: directory)
    }

    // MARK: - sshd

    private func generateHostKey() throws {
        try Self.generateKey(at: directory.appending(path: "host_key"))
        let line = try knownHostsLine()
        try line.write(to: directory.appending(path: "known_hosts.current"), atomically: true, encoding: .utf8)
    }

    /// `[address]:port type key`, from the current host key.
    private func knownHostsLine() throws -> String {
        let publicKey = try String(contentsOf: directory.appending(path: "host_key.pub"), encoding: .utf8)
        let fields = publicKey.split(separator: " ").prefix(2).joined(separator: " ")
        return "[\(address)]:\(port) \(fields)\n"
    }

    private func writeSSHDConfig() throws {
        var lines = [
            "ListenAddress \(address)",
            "Port \(port)",
            "HostKey \(directory.appending(path: "host_key").path)",
            "AuthorizedKeysFile \(directory.appending(path: "authorized_keys").path)",
            "PidFile \(directory.appending(path: "sshd.pid").path)",
            "StrictModes no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "HostbasedAuthentication no",
            "PermitRootLogin prohibit-password",
            "UsePAM no",
            "UseDNS no",
            "PermitUserRC no",
            "PrintMotd no",
            "PrintLastLog no",
            "Subsystem sftp internal-sftp",
            "LogLevel VERBOSE",
        ]
        // From 9.8 on, sshd refuses sources that keep failing, such as the host key tests' clients.
        if try Self.sshdVersion.get() >= (9, 8) { lines.append("PerSourcePenalties no") }
        try (lines.joined(separator: "\n") + "\n")
            .write(to: directory.appending(path: "sshd_config"), atomically: true, encoding: .utf8)
    }

    /// Starts `sshd -D -e` and waits until a client runs `true` on it, checking the current host key.
    private func launch() throws {
        if getuid() == 0 {
            // Privilege separation chroots into this directory; it must be root-owned and not group/world-writable.
            try FileManager.default.createDirectory(
                atPath: "/run/sshd", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        }
        // sshd re-executes itself, so it must be started by absolute path.
        let pid = try Self.spawn(
            Self.executable("sshd"), ["-D", "-e", "-f", directory.appending(path: "sshd_config").path],
            output: directory.appending(path: "sshd.log"))
        sshd.withLock { $0 = pid }

        let deadline = Date.now.addingTimeInterval(10)
        while Date.now < deadline, Self.isRunning(pid) {
            let probe = try Self.run(
                "ssh",
                [
                    "-F", configFile.path,
                    "-o", "UserKnownHostsFile=\(directory.appending(path: "known_hosts.current").path)",
                    "-p", "\(port)", "--", address, "true",
                ])
            // 255 is ssh's own failure; anything else is the remote command's status, so sshd is serving.
            if probe.status != 255 { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        stopSSHD()
        throw SSHServerError.notReady(address: address, port: port, log: logTail())
    }

    /// SIGTERM by pid, SIGKILL if it is still running after 5 s, then reaps it.
    private func stopSSHD() {
        guard let pid = sshd.withLock({ $0.take() }) else { return }
        kill(pid, SIGTERM)
        let deadline = Date.now.addingTimeInterval(5)
        while Self.isRunning(pid) {
            guard Date.now < deadline else {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                waitpid(pid, &status, 0)
                return
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    private func logTail() -> String {
        let text = (try? String(contentsOf: directory.appending(path: "sshd.log"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(20).joined(separator: "\n")
    }

    // MARK: - Process-wide

    /// The client key pair every server authorizes, generated once per process in a temporary directory of its own.
    private enum ClientKey {
        static let shared: Result<URL, any Error> = Result {
            let directory = FileManager.default.temporaryDirectory
                .appending(path: "medic-ssh-client-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let key = directory.appending(path: "id_ed25519")
            try SSHServer.generateKey(at: key)
            return key
        }
    }

    /// The major and minor version of the installed sshd.
    private static let sshdVersion: Result<(major: Int, minor: Int), any Error> = Result {
        let result = try run("sshd", ["-V"])
        guard let match = result.output.firstMatch(of: /OpenSSH_(\d+)\.(\d+)/) else {
            throw SSHServerError.commandFailed(command: "sshd -V", status: result.status, output: result.output)
        }
        return (Int(match.1)!, Int(match.2)!)
    }

    private static func generateKey(at key: URL) throws {
        let result = try run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "medic-test", "-f", key.path])
        guard result.status == 0 else {
            throw SSHServerError.commandFailed(command: "ssh-keygen", status: result.status, output: result.output)
        }
    }

    private static func currentUser() throws -> String {
        guard let entry = getpwuid(getuid()), let name = entry.pointee.pw_name else {
            throw SSHServerError.noUser(uid: getuid())
        }
        return String(cString: name)
    }

    /// A port on `address` that nothing listens on right now.
    private static func freePort(on address: String) throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SSHServerError.noPort(address: address, errno: errno) }
        defer { close(fd) }
        var socketAddress = sockaddr_in()
        socketAddress.sin_family = sa_family_t(AF_INET)
        socketAddress.sin_port = 0
        guard inet_pton(AF_INET, address, &socketAddress.sin_addr) == 1 else {
            throw SSHServerError.noPort(address: address, errno: EINVAL)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw SSHServerError.noPort(address: address, errno: errno) }
        return Int(UInt16(bigEndian: socketAddress.sin_port))
    }

    /// `name` from `PATH`, or from `/usr/sbin` and `/usr/bin`, which an unprivileged `PATH` may lack.
    private static func executable(_ name: String) throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in path.split(separator: ":") + ["/usr/sbin", "/usr/bin"] {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return URL(filePath: candidate) }
        }
        throw SSHServerError.missingTool(name)
    }

    /// Runs `name` to completion with no input; returns its exit status (128 + the signal if killed) and its
    /// stdout and stderr together.
    @discardableResult
    public static func run(_ name: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        try run(executable: executable(name), arguments)
    }

    /// Runs the program at `executable` to completion, as `run(_:_:)` does.
    static func run(executable: URL, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let outputFile = FileManager.default.temporaryDirectory.appending(path: "medic-ssh-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: outputFile) }
        let pid = try spawn(executable, arguments, output: outputFile)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let output = (try? Data(contentsOf: outputFile)) ?? Data()
        let code = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + status & 0x7f
        return (code, String(decoding: output, as: UTF8.self))
    }

    /// Starts `executable` with stdin from /dev/null and stdout and stderr appended to `output`.
    private static func spawn(_ executable: URL, _ arguments: [String], output: URL) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output.path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable.path] + arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable.path, &actions, nil, argv, environ)
        guard rc == 0 else {
            throw SSHServerError.commandFailed(
                command: executable.path, status: -1, output: String(cString: strerror(rc)))
        }
        return pid
    }

    /// Whether `pid`, a child of this process, has not exited; reaps it if it has.
    private static func isRunning(_ pid: pid_t) -> Bool {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == 0
    }
}

/// Why an `SSHServer` could not be set up.
public enum SSHServerError: Error, CustomStringConvertible {
    case missingTool(String)
    case commandFailed(command: String, status: Int32, output: String)
    case noUser(uid: uid_t)
    case noPort(address: String, errno: Int32)
    case notReady(address: String, port: Int, log: String)

    public var description: String {
        switch self {
        case .missingTool(let name):
            "\(name) not found (install openssh-server and openssh-client)"
        case .commandFailed(let command, let status, let output):
            "\(command) exited with status \(status): \(output)"
        case .noUser(let uid):
            "no passwd entry for uid \(uid)"
        case .noPort(let address, let code):
            "no free port on \(address): \(String(cString: strerror(code)))"
        case .notReady(let address, let port, let log):
            "sshd on \(address):\(port) did not accept a connection within 10 s; its log ends:\n\(log)"
        }
    }
}
