import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A private PostgreSQL cluster for tests: `initdb` in a temporary directory, a postmaster on a free port of
/// 127.0.0.1 (and a Unix socket in that directory), password authentication over TCP; stopped by pid.
///
/// PostgreSQL refuses to run as root: when the tests do, the cluster belongs to the unprivileged `postgres` user
/// (which Debian's `postgresql` package creates) and its commands run through `runuser`. Nothing outside
/// `directory` is read or written, and the machine's own clusters are never touched.
public final class PostgresServer: Sendable {
    public let directory: URL
    public let port: Int
    public let user = "medic"
    public let password: String
    private let binDirectory: String
    private let runAs: String?

    /// One cluster per test process, started on first use and stopped when the process exits; each test makes
    /// its own database in it (`makeDatabase()`). Starting takes seconds of blocking work (initdb, pg_ctl): it
    /// runs on a thread of its own, so the tests waiting for it do not hold the async runtime's few threads.
    public static func shared() async throws -> PostgresServer {
        let starting = sharedServer.withLock { task -> Task<PostgresServer, any Error> in
            if let task { return task }
            let started = Task { try await blocking { try PostgresServer.start() } }
            task = started
            atexit { PostgresServer.stopShared() }
            return started
        }
        return try await starting.value
    }

    private static let sharedServer = Mutex<Task<PostgresServer, any Error>?>(nil)
    private static let started = Mutex<PostgresServer?>(nil)

    private static func stopShared() {
        started.withLock { $0?.stop() }
    }

    /// Runs blocking work on a Dispatch thread and waits for it without blocking the caller's thread.
    public static func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
        }
    }

    private init(directory: URL, port: Int, password: String, binDirectory: String, runAs: String?) {
        self.directory = directory
        self.port = port
        self.password = password
        self.binDirectory = binDirectory
        self.runAs = runAs
    }

    public var dataDirectory: URL { directory.appending(path: "data") }

    /// `postgres://medic:PASSWORD@127.0.0.1:PORT/DATABASE?sslmode=disable`.
    public func url(database: String, password: String? = nil) -> String {
        "postgres://\(user):\(password ?? self.password)@127.0.0.1:\(port)/\(database)?sslmode=disable&connect_timeout=60"
    }

    /// Starts a new cluster and returns once it accepts connections.
    public static func start() throws -> PostgresServer {
        guard let bin = binDirectory() else { throw PostgresServerError.notInstalled }
        let runAs: String? = geteuid() == 0 ? "postgres" : nil
        var lastError: (any Error)?
        for _ in 0..<3 {
            let directory = URL(filePath: "/tmp").appending(path: "medic-pg-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let server = PostgresServer(
                directory: directory, port: try freePort(), password: "pw-\(UUID().uuidString.prefix(12))",
                binDirectory: bin, runAs: runAs)
            do {
                try server.initialize()
                // Before the postmaster starts: no moment when it runs unwatched.
                try server.babysit()
                try server.launch()
                started.withLock { $0 = server }
                return server
            } catch {
                lastError = error
                server.stop()
            }
        }
        throw lastError ?? PostgresServerError.notInstalled
    }

    private func initialize() throws {
        let passwordFile = directory.appending(path: "pwfile")
        try password.write(to: passwordFile, atomically: true, encoding: .utf8)
        if let runAs { try Self.check(Self.run("/bin/chown", ["-R", runAs, directory.path])) }
        try Self.check(
            run("initdb", [
                "-D", dataDirectory.path, "-U", user, "--pwfile", passwordFile.path, "-E", "UTF8", "--no-locale",
                "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync",
            ]))
    }

    private func launch() throws {
        let options = "-c listen_addresses=127.0.0.1 -p \(port) -k \(directory.path) -c fsync=off -c max_connections=200"
        try Self.check(
            run("pg_ctl", [
                "-D", dataDirectory.path, "-l", directory.appending(path: "postgres.log").path, "-o", options, "-w",
                "-t", "60", "start",
            ]))
    }

    /// Stops the cluster once this process is gone, however it ended: a small shell in a session of its own
    /// polls this pid and then stops the postmaster by its pid and removes `directory`. (An `atexit` handler
    /// alone was seen not to run at the end of some test runs, and never runs after a kill.)
    private func babysit() throws {
        let script = """
            while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done
            pid=$(head -n 1 '\(dataDirectory.path)/postmaster.pid' 2>/dev/null)
            [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null
            sleep 2; rm -rf '\(directory.path)'
            """
        try Self.check(Self.run("/usr/bin/setsid", ["-f", "/bin/sh", "-c", script]))
    }

    /// The postmaster's pid, from `postmaster.pid`, while it runs.
    public var pid: pid_t? {
        guard let text = try? String(contentsOf: dataDirectory.appending(path: "postmaster.pid"), encoding: .utf8),
            let first = text.split(separator: "\n").first, let pid = pid_t(first)
        else { return nil }
        return pid
    }

    /// Stops the postmaster (fast shutdown: connections are closed) and waits for it; `start()` it again with
    /// `restart()`.
    public func pause() throws {
        try Self.check(run("pg_ctl", ["-D", dataDirectory.path, "-m", "fast", "-w", "stop"]))
    }

    public func restart() throws {
        try launch()
    }

    /// Stops the postmaster by pid (SIGQUIT: immediate shutdown) and removes `directory`. Idempotent.
    public func stop() {
        if let pid {
            kill(pid, SIGQUIT)
            for _ in 0..<100 where kill(pid, 0) == 0 { usleep(50_000) }
            if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        }
        try? FileManager.default.removeItem(at: directory)
    }

    private static let counter = Atomic<Int>(0)

    /// A new, empty database; returns its URL.
    public func makeDatabase() async throws -> String {
        try await Self.blocking { try self.makeDatabaseNow() }
    }

    private func makeDatabaseNow() throws -> String {
        let name = "t\(getpid())_\(Self.counter.add(1, ordering: .relaxed).newValue)_\(UUID().uuidString.prefix(6).lowercased())"
        try psql("CREATE DATABASE \(name)")
        return url(database: name)
    }

    /// Runs SQL through psql over the Unix socket (trusted), as the cluster's superuser.
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres") throws -> String {
        let result = try run("psql", [
            "-h", directory.path, "-p", String(port), "-U", user, "-d", database, "-v", "ON_ERROR_STOP=1", "-At",
            "-c", sql,
        ])
        try Self.check(result)
        return result.output
    }

    // MARK: - Processes

    private func run(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let path = "\(binDirectory)/\(tool)"
        if let runAs { return try Self.run("/usr/sbin/runuser", ["-u", runAs, "--", path] + arguments) }
        return try Self.run(path, arguments)
    }

    /// Through posix_spawn and waitpid (Foundation's `Process` was seen to hang in `waitUntilExit` after
    /// `pg_ctl start`, whose postmaster outlives it).
    private static func run(_ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        try SSHServer.run(executable: URL(filePath: path), arguments)
    }

    private static func check(_ result: (status: Int32, output: String)) throws {
        guard result.status == 0 else { throw PostgresServerError.failed(status: result.status, output: result.output) }
    }

    /// The newest `/usr/lib/postgresql/N/bin` holding `initdb` (Debian keeps them off `PATH`).
    private static func binDirectory() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return versions.compactMap(Int.init).sorted(by: >).map { "\(root)/\($0)/bin" }
            .first { FileManager.default.isExecutableFile(atPath: "\($0)/initdb") }
    }

    /// A port on 127.0.0.1 that nothing listens on right now.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PostgresServerError.noPort }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw PostgresServerError.noPort }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

public enum PostgresServerError: Error, CustomStringConvertible {
    case notInstalled
    case noPort
    case failed(status: Int32, output: String)

    public var description: String {
        switch self {
        case .notInstalled: "PostgreSQL is not installed (apt-get install postgresql; .ci/run does)"
        case .noPort: "no free port on 127.0.0.1"
        case .failed(let status, let output): "exit \(status): \(output)"
        }
    }
}
