import Foundation
import MedicCore
import Testing

@testable import MedicExecution

/// Real processes, real signals: what the runner promises about process trees, output and environments.
@Suite(.serialized) struct SubprocessRunnerTests {
    static let path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    static func request(
        _ command: Command, timeout: Duration? = nil, grace: Duration = .seconds(5), env: [String: String] = [:],
        workdir: String? = nil
    ) -> AttemptRequest {
        AttemptRequest(
            step: "t", phase: .main, attempt: 1, command: command, environment: ["PATH": path].merging(env) { $1 },
            workdir: workdir, timeout: timeout, killGrace: grace)
    }

    static func sh(_ script: String, timeout: Duration? = nil, grace: Duration = .seconds(5)) -> AttemptRequest {
        request(.shell(script), timeout: timeout, grace: grace)
    }

    /// True while `pid` is a live (not zombie) process. This sandbox's init does not reap orphans.
    static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        guard let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X"
    }

    static func pids(in text: String) -> [Int32] {
        text.split(whereSeparator: { !$0.isNumber }).compactMap { Int32($0) }
    }

    let runner = SubprocessRunner()

    /// A plain file without execute bits.
    static let notExecutable: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("medic-not-executable").path
        FileManager.default.createFile(
            atPath: path, contents: Data("echo hi\n".utf8), attributes: [.posixPermissions: 0o644])
        _ = chmod(path, 0o644)
        return path
    }()

    @Test("runs argv and captures stdout and stderr separately")
    func basic() async {
        let result = await runner.run(Self.sh("echo out; echo err >&2; exit 3"), stop: StopSignal())
        #expect(result.termination == .exited(3))
        #expect(result.stdout == "out\n")
        #expect(result.stderr == "err\n")
        #expect(!result.timedOut)
    }

    @Test("hostile values are passed literally as one argument, never interpreted")
    func literalArguments() async {
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("medic-pwned-\(UUID())").path
        let hostile = "x; touch \(marker) $(touch \(marker)) `touch \(marker)` | tee \(marker)"
        let result = await runner.run(Self.request(.argv(["printf", "%s", hostile])), stop: StopSignal())
        #expect(result.termination == .exited(0))
        #expect(result.stdout == hostile)
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test(
        "a missing executable fails to start with a clear reason",
        arguments: [
            (["/usr/bin/nope"], "could not start: /usr/bin/nope: no such file"),
            (["no-such-program-medic"], "could not start: no-such-program-medic: not found in PATH"),
            (
                [SubprocessRunnerTests.notExecutable],
                "could not start: \(SubprocessRunnerTests.notExecutable): permission denied"
            ),
        ])
    func missingExecutable(argv: [String], message: String) async {
        let result = await runner.run(Self.request(.argv(argv)), stop: StopSignal())
        guard case .launchFailed(let reason) = result.termination else {
            Issue.record("expected a launch failure, got \(result.termination)")
            return
        }
        #expect(reason.hasPrefix(message))
    }

    @Test("the environment is exactly what the request gives, stdin is /dev/null, workdir applies")
    func environment() async {
        setenv("MEDIC_TEST_LEAK", "leaked", 1)
        let result = await runner.run(
            Self.request(.argv(["sh", "-c", "env | sort; pwd; cat"]), env: ["FOO": "bar"], workdir: "/tmp"),
            stop: StopSignal())
        #expect(result.termination == .exited(0))
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("FOO=bar"))
        #expect(!result.stdout.contains("MEDIC_TEST_LEAK"))
        #expect(lines.last == "/tmp")
        let names = lines.dropLast().compactMap { $0.split(separator: "=").first }.map(String.init)
        // Nothing of the launcher's (MEDIC_STEP_LAUNCHER_PARENT) reaches the step.
        #expect(Set(names).subtracting(["FOO", "PATH", "PWD", "SHLVL", "_"]).isEmpty, "\(names)")
    }

    @Test("a timeout kills the whole tree: a pipeline and a background child leave no survivor")
    func timeoutKillsTree() async throws {
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("medic-pids-\(UUID())").path
        let script = "sleep 300 & echo $! > \(pidFile); echo $$ >> \(pidFile); sleep 300 | cat"
        let started = ContinuousClock.now
        let result = await runner.run(Self.sh(script, timeout: .milliseconds(500)), stop: StopSignal())
        let elapsed = ContinuousClock.now - started
        #expect(result.timedOut)
        #expect(result.termination == .signaled(SIGTERM))
        #expect(elapsed < Bounds.promptly)
        let pids = Self.pids(in: try String(contentsOfFile: pidFile, encoding: .utf8))
        #expect(pids.count == 2)
        try await Task.sleep(for: .milliseconds(100))
        for pid in pids {
            #expect(!Self.isAlive(pid), "pid \(pid) survived")
        }
        // The pipeline's members too: nothing in the step's process group is left.
        let group = pids.last!
        let members = try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap(Int32.init).filter {
            pid in
            guard Self.isAlive(pid), let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return false }
            let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            return fields.count > 2 && Int32(fields[2]) == group
        }
        #expect(members.isEmpty, "left in group \(group): \(members)")
    }

    @Test("a step that traps SIGTERM gets it once, and is killed with SIGKILL after the grace period")
    func trapsTerm() async {
        let script = "trap 'echo term' TERM; echo $$; while true; do sleep 0.05 || true; done"
        let started = ContinuousClock.now
        // The timeout leaves the shell time to set its trap even on a loaded machine (at 300 ms, a busy CI once
        // delivered SIGTERM before the trap was set).
        let result = await runner.run(
            Self.sh(script, timeout: .seconds(2), grace: .milliseconds(700)), stop: StopSignal())
        let elapsed = ContinuousClock.now - started
        #expect(result.timedOut)
        #expect(result.termination == .signaled(SIGKILL))
        #expect(elapsed >= .milliseconds(2700))
        #expect(elapsed < Bounds.promptly)
        // Medic signals the launcher, which passes SIGTERM on to the step's group: once, not once from each.
        #expect(result.stdout.components(separatedBy: "term\n").count - 1 == 1, "\(result.stdout)")
        for pid in Self.pids(in: result.stdout) {
            #expect(!Self.isAlive(pid))
        }
    }

    @Test("a step that exits 0 but leaves a background child: the child is killed, the step ends at once")
    func backgroundChild() async throws {
        let started = ContinuousClock.now
        let result = await runner.run(Self.sh("sleep 300 & echo $!; exit 0", timeout: .seconds(60)), stop: StopSignal())
        #expect(result.termination == .exited(0))
        #expect(ContinuousClock.now - started < Bounds.promptly)
        let child = try #require(Self.pids(in: result.stdout).first)
        try await Task.sleep(for: .milliseconds(100))
        #expect(!Self.isAlive(child))
        #expect(!Self.isZombie(child), "child \(child) was killed but not reaped")
    }

    /// How an attempt with an escaped process ends.
    enum Ending: String, CaseIterable, Sendable {
        case timeout, stop, exit
        /// The task running the attempt is cancelled outright.
        case cancel
    }

    /// How the process leaves the step's group.
    enum Escape: String, CaseIterable, Sendable {
        /// `setsid` in a subshell that exits at once: orphaned while the step runs.
        case orphaned
        /// `setsid` as the step's own child: orphaned only when the step ends.
        case child
    }

    /// True when `/proc/PID` is a zombie: killed but never reaped.
    static func isZombie(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[stat.index(close, offsetBy: 2)] == "Z"
    }

    /// The pid written to `path`, waiting up to two seconds for it.
    static func pid(writtenTo path: String) async throws -> Int32 {
        for _ in 0..<100 {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), let pid = pids(in: text).first {
                return pid
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw CancellationError()
    }

    @Test(
        "a process that left the step's group (setsid, a double fork) dies and is reaped with the attempt",
        arguments: Ending.allCases, Escape.allCases)
    func escapedDescendant(ending: Ending, escape how: Escape) async throws {
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("medic-escaped-\(UUID())").path
        // `setsid sleep` runs in a new session, so outside the group.
        let detached = "setsid sleep 300 >/dev/null 2>&1 </dev/null & echo $! > \(pidFile)"
        let escape = how == .orphaned ? "(\(detached))" : detached
        let script = ending == .exit ? "\(escape); sleep 0.3" : "\(escape); sleep 300"
        let stop = StopSignal()
        let request = Self.sh(
            script, timeout: ending == .timeout ? .milliseconds(500) : nil, grace: .milliseconds(500))
        let running = Task { [runner] in await runner.run(request, stop: stop) }
        let pid = try await Self.pid(writtenTo: pidFile)
        #expect(Self.isAlive(pid))
        if ending == .stop || ending == .cancel {
            try await Task.sleep(for: .milliseconds(200))
            if ending == .stop { stop.trigger() } else { running.cancel() }
        }
        let result = await running.value
        switch ending {
        case .timeout: #expect(result.timedOut)
        case .stop: #expect(result.cancelled)
        case .exit: #expect(result.termination == .exited(0))
        case .cancel: #expect(result.termination != .exited(0))
        }
        #expect(!Self.isAlive(pid), "escaped pid \(pid) survived")
        #expect(!Self.isZombie(pid), "escaped pid \(pid) was killed but not reaped")
    }

    @Test("a cancelled attempt whose step traps SIGTERM is still swept: the step and its escapee die and are reaped")
    func cancelledTrappingStep() async throws {
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("medic-trapped-\(UUID())").path
        let script = [
            "trap '' TERM", "echo $$ > \(pidFile)", "setsid sleep 300 >/dev/null 2>&1 & echo $! >> \(pidFile)",
            "while true; do sleep 0.05 || true; done",
        ].joined(separator: "; ")
        let request = Self.sh(script, grace: .milliseconds(300))
        let running = Task { [runner] in await runner.run(request, stop: StopSignal()) }
        var pids: [Int32] = []
        for _ in 0..<100 where pids.count < 2 {
            pids = Self.pids(in: (try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? "")
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(pids.count == 2)
        let started = ContinuousClock.now
        running.cancel()
        let result = await running.value
        #expect(ContinuousClock.now - started < Bounds.promptly)
        #expect(result.termination == .signaled(SIGKILL))
        for pid in pids {
            #expect(!Self.isAlive(pid), "pid \(pid) survived")
            #expect(!Self.isZombie(pid), "pid \(pid) was killed but not reaped")
        }
    }

    @Test("an orphan of the step that exits on its own is reaped by the step's launcher, not left a zombie")
    func exitedOrphanIsReaped() async throws {
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("medic-orphan-\(UUID())").path
        // The subshell exits at once, so `sleep 0.1` is adopted by the launcher and exits while the step still runs.
        let result = await runner.run(
            Self.sh("(sleep 0.1 >/dev/null 2>&1 & echo $! > \(pidFile)); sleep 0.5"), stop: StopSignal())
        #expect(result.termination == .exited(0))
        let pid = try #require(Self.pids(in: try String(contentsOfFile: pidFile, encoding: .utf8)).first)
        #expect(!Self.isZombie(pid), "orphan \(pid) left a zombie")
    }

    /// The parent (ppid) in `/proc/PID/stat`.
    static func parent(of pid: Int32) -> Int32? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? Int32(fields[1]) : nil
    }

    /// How a step orphans a process that carries nothing of Medic's and exits while the step still runs.
    enum Orphan: String, CaseIterable, Sendable {
        /// Leaves the session too (`setsid`).
        case setsid
        /// With an empty environment (`env -i`, as `sudo`'s env_reset does).
        case emptyEnvironment
    }

    @Test(
        "an orphan of a step never becomes a zombie child of Medic: Medic is no subreaper, the launcher reaps it",
        arguments: Orphan.allCases)
    func orphanIsNotMedicsZombie(_ orphan: Orphan) async throws {
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("medic-orphan-\(UUID())").path
        let start = orphan == .setsid ? "setsid sleep 0.1" : "env -i /bin/sleep 0.1"
        let result = await runner.run(
            Self.sh("(\(start) >/dev/null 2>&1 & echo $! > \(pidFile)); sleep 0.5"), stop: StopSignal())
        #expect(result.termination == .exited(0))
        let pid = try #require(Self.pids(in: try String(contentsOfFile: pidFile, encoding: .utf8)).first)
        let zombieOfMedic = Self.isZombie(pid) && Self.parent(of: pid) == getpid()
        #expect(!zombieOfMedic, "orphan \(pid) is a zombie child of this process")
        #expect(!Self.isZombie(pid), "orphan \(pid) left a zombie")
    }

    @Test(
        "when the process that started a launcher dies, the launcher kills the step's whole tree, by either launcher",
        arguments: [StepLauncher.defaultLauncher, StepLauncher.fallback])
    func launcherSweepsWhenParentDies(launcher: String) async throws {
        // The fallback is this test binary; a shell would resolve /proc/self/exe to itself.
        let path =
            launcher == StepLauncher.fallback
            ? try FileManager.default.destinationOfSymbolicLink(atPath: launcher) : launcher
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("medic-parent-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        func file(_ name: String) -> String { directory.appendingPathComponent(name).path }
        // The step: a shell with a background child, a setsid escapee, and a command substitution it waits in.
        let step = [
            "echo $$ > \(file("shell"))",
            "sleep 300 & echo $! > \(file("child"))",
            "setsid sleep 300 >/dev/null 2>&1 & echo $! > \(file("escapee"))",
            "used=$(sleep 300 & echo $! > \(file("substitution")); wait)",
        ].joined(separator: "; ")
        // A stand-in for Medic: a shell that starts the launcher with its own pid, as Medic does, and waits. Spawned
        // and reaped by hand, so that nothing but this test waits for it; its output goes nowhere, so that a
        // survivor cannot hold the test runner's.
        let script = #"exec >/dev/null 2>&1; MEDIC_STEP_LAUNCHER_PARENT=2:$$ "$0" /bin/sh sh -c "$1" & wait"#
        let words: [String] = ["sh", "-c", script, path, step]
        let argv: [UnsafeMutablePointer<CChar>?] = words.map { word in strdup(word) } + [nil]
        let environment: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=\(Self.path)"), nil]
        defer { for pointer in argv + environment { free(pointer) } }
        var medic: pid_t = 0
        try #require(posix_spawn(&medic, "/bin/sh", nil, nil, argv, environment) == 0)
        var pids: [Int32] = []
        for name in ["shell", "child", "escapee", "substitution"] {
            pids.append(try await Self.pid(writtenTo: file(name)))
        }
        for pid in pids { #expect(Self.isAlive(pid)) }
        kill(medic, SIGKILL)
        var status: CInt = 0
        _ = waitpid(medic, &status, 0)
        // Orphans of a dead launcher may linger as zombies of this sandbox's init: a zombie counts as dead here.
        var survivors = pids
        for _ in 0..<100 where !survivors.isEmpty {
            survivors = survivors.filter(Self.isAlive)
            try await Task.sleep(for: .milliseconds(50))
        }
        for pid in survivors { kill(pid, SIGKILL) }
        #expect(survivors.isEmpty, "survived their launcher's parent: \(survivors) of \(pids)")
    }

    @Test(
        "the step's leader dies with its launcher (SIGKILL as its parent-death signal), by either launcher",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")),
        arguments: [StepLauncher.defaultLauncher, StepLauncher.fallback])
    func parentDeathSignal(launcher: String) async {
        var runner = SubprocessRunner()
        runner.launcher = launcher
        // PR_GET_PDEATHSIG is 2; the launcher's child execs python3, which keeps the setting.
        let script = "import ctypes; v = ctypes.c_int(); ctypes.CDLL(None).prctl(2, ctypes.byref(v)); print(v.value)"
        let result = await runner.run(Self.request(.argv(["python3", "-c", script])), stop: StopSignal())
        #expect(result.termination == .exited(0), "\(result.stderr)")
        #expect(result.stdout == "\(SIGKILL)\n")
    }

    @Test("a step that closes its output early is still timed out")
    func closesOutputEarly() async {
        let result = await runner.run(
            Self.sh("exec >&- 2>&-; sleep 300", timeout: .milliseconds(300)), stop: StopSignal())
        #expect(result.timedOut)
    }

    @Test("a stop request tears a running step down")
    func stop() async throws {
        let stop = StopSignal()
        async let result = runner.run(Self.sh("sleep 300"), stop: stop)
        try await Task.sleep(for: .milliseconds(200))
        stop.trigger()
        let finished = await result
        #expect(finished.cancelled)
        #expect(!finished.timedOut)
        #expect(finished.termination == .signaled(SIGTERM))
    }

    @Test("100 MB of output: counted in full, kept bounded, memory stays flat")
    func hugeOutput() async {
        let before = Self.peakResidentKiB()
        let result = await runner.run(
            Self.request(.argv(["head", "-c", "100000000", "/dev/zero"])), stop: StopSignal())
        let after = Self.peakResidentKiB()
        #expect(result.termination == .exited(0))
        #expect(result.stdoutBytes == 100_000_000)
        #expect(result.stdout.utf8.count < 64 * 1024 + 100)
        #expect(result.stdout.contains("bytes omitted by medic"))
        #expect(after - before < 50 * 1024, "peak RSS grew by \(after - before) KiB")
    }

    static func peakResidentKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }

    @Test(
        "a launcher asked in another protocol refuses loudly instead of running the step unsupervised",
        arguments: [StepLauncher.defaultLauncher, StepLauncher.fallback])
    func launcherProtocolMismatch(launcher: String) throws {
        let path =
            launcher == StepLauncher.fallback
            ? try FileManager.default.destinationOfSymbolicLink(atPath: launcher) : launcher
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["/bin/echo", "echo", "ran"]
        process.environment = ["PATH": Self.path, "MEDIC_STEP_LAUNCHER_PARENT": "\(getpid())"]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        process.waitUntilExit()
        let said = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 127)
        #expect(said.contains("does not speak the protocol"), "\(said)")
        #expect(output.fileHandleForReading.readDataToEndOfFile().isEmpty, "the step ran")
    }
}

@Suite struct BoundedCaptureTests {
    @Test("keeps head and tail and counts everything", arguments: [1, 7, 100, 4096])
    func headAndTail(chunk: Int) {
        var capture = BoundedCapture(limit: 20)
        let data = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)
        var index = 0
        while index < data.count {
            capture.append(Array(data[index..<min(index + chunk, data.count)]))
            index += chunk
        }
        #expect(capture.totalBytes == 36)
        #expect(capture.omittedBytes == 16)
        #expect(capture.text == "0123456789\n[… 16 bytes omitted by medic …]\nqrstuvwxyz")
    }

    @Test("short output is kept whole")
    func short() {
        var capture = BoundedCapture(limit: 64)
        capture.append(Array("hello\n".utf8))
        #expect(capture.text == "hello\n")
        #expect(capture.omittedBytes == 0)
    }
}

/// Where ControlMaster sockets live: a socket path has at most 107 bytes.
@Suite struct ControlDirectoryTests {
    @Test("a TMPDIR too deep for a socket path puts the ControlMaster directory in /tmp instead")
    func deepTemporaryDirectory() {
        let deep = "/tmp/" + String(repeating: "d", count: 60)
        #expect(SSHTransport.controlBase(temporary: deep) == "/tmp")
        #expect(SSHTransport.controlBase(temporary: "/var/tmp/") == "/var/tmp")
        let configured = SSHSettings(controlDirectory: deep)
        guard case .failure(let problem) = SSHTransport.controlDirectory(configured) else {
            Issue.record("a directory too long for a socket was accepted")
            return
        }
        #expect(problem.reason.contains("too long for a socket path"))
    }
}
