import Dispatch
import Foundation
import MedicCore
import Subprocess
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

#if canImport(System)
    import System
#else
    import SystemPackage
#endif

/// Runs attempts as real processes through swift-subprocess: each in its own session and process group, with a
/// clean signal mask and dispositions, exactly the environment it is given, stdin from /dev/null, and both
/// output streams drained concurrently into bounded captures.
///
/// On Linux the step runs under a launcher that supervises it (`StepLauncher`): Medic waits on the launcher and
/// signals only the launcher's process group, and the launcher forwards SIGTERM to the step's group, kills the
/// step's whole tree when the step exits or on Medic's kill order, and does the same when Medic dies. Elsewhere
/// the step is the leader and its group is signalled directly.
///
/// On timeout or stop: SIGTERM, `killGrace`, then the step's tree is killed (`StepLauncher.killTree`). When the
/// step's main process exits, whatever it left running, in its group or outside it, is killed too. A group is
/// signalled only while its leader is unreaped (`ProcessGroup`), so a recycled group id is never hit.
public struct SubprocessRunner: ProcessRunner {
    /// Bytes kept per stream (head and tail halves).
    public var outputLimit: Int
    public var clock: any Clock<Duration>
    /// The program that starts each step's leader (`StepLauncher`); tests use the `/proc/self/exe` fallback.
    var launcher = StepLauncher.defaultLauncher

    /// How remote targets are reached (`--ssh-config`).
    public var ssh: SSHSettings

    public init(
        outputLimit: Int = 64 * 1024, clock: any Clock<Duration> = ContinuousClock(), ssh: SSHSettings = SSHSettings()
    ) {
        self.outputLimit = outputLimit
        self.clock = clock
        self.ssh = ssh
    }

    /// A remote attempt's handle for stopping it: the target and the token its processes carry.
    struct Remote: Sendable {
        var target: ResolvedTarget
        var token: String
        var settings: SSHSettings
        /// What stopping it did on the target, for the attempt's record.
        let notes = Notes()

        final class Notes: Sendable {
            private let lines = Mutex<[String]>([])
            private let killReached = Mutex(false)
            private let unconfirmed = Mutex<String?>(nil)
            func unconfirmed(_ reason: String) { unconfirmed.withLock { $0 = reason } }
            var unconfirmedReason: String? { unconfirmed.withLock { $0 } }
            func add(_ line: String) { lines.withLock { $0.append(line) } }
            var all: [String] { lines.withLock { $0 } }
            /// Set when a final SIGKILL pass reached the target: nothing carrying the token is left there.
            func killConfirmed() { killReached.withLock { $0 = true } }
            var killWasConfirmed: Bool { killReached.withLock { $0 } }
        }

        /// What may be left on the target when a kill cannot be confirmed.
        var leftovers: String { "\(target) (processes carrying MEDIC_REMOTE_TOKEN=\(token))" }
    }

    private enum Piece: Sendable {
        case stdout(BoundedCapture)
        case stderr(BoundedCapture)
        case ended(Ending)
    }

    /// Why the watchdog stopped watching.
    enum Ending: Sendable {
        case exited, timedOut, stopped
    }

    public func run(_ request: AttemptRequest, stop: StopSignal) async -> AttemptResult {
        let started = ContinuousClock.now
        func failed(_ reason: String, unreachable: Bool = false) -> AttemptResult {
            var result = AttemptResult(termination: .launchFailed(reason), duration: ContinuousClock.now - started)
            result.unreachable = unreachable
            return result
        }
        // A remote attempt runs the local `ssh` client, with the step sent as a script on its stdin.
        var argv = request.command.argv
        var environment = request.environment
        var workdir = request.workdir
        var input: [UInt8]?
        var remote: Remote?
        if let target = request.target {
            let token = (0..<4).map { _ in String(UInt32.random(in: 0...UInt32.max), radix: 16) }.joined()
            switch SSHTransport.script(for: request, token: token) {
            case .success(let script): input = Array(script.utf8)
            case .failure(let problem): return failed("could not start on \(target): \(problem.reason)")
            }
            if case .failure(let problem) = SSHTransport.configFile(ssh) {
                return failed("could not start on \(target): \(problem.reason)")
            }
            // The host's connection, made by Medic outside the step: its failure means nothing ran there. A stop
            // that comes meanwhile is not kept waiting for it, and nothing is started after it.
            let settings = ssh
            let connected = await withTaskGroup(of: Result<Void, SSHMasters.Failure>?.self) { group in
                group.addTask { await SSHMasters.shared.ensure(target, settings: settings) }
                group.addTask {
                    await stop.wait()
                    return nil
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
            guard let connected, !stop.isTriggered else {
                var result = AttemptResult(
                    termination: .launchFailed("stopped before it started on \(target)"), cancelled: true,
                    duration: ContinuousClock.now - started)
                result.unreachable = false
                return result
            }
            if case .failure(let problem) = connected {
                switch problem.kind {
                case .hostKeyUnknown: return failed("host key unknown: \(target): \(problem.reason)")
                case .hostKeyChanged: return failed("host key changed: \(target): \(problem.reason)")
                case .unreachable:
                    return failed("ssh: cannot reach \(target): \(problem.reason)", unreachable: true)
                }
            }
            argv = SSHTransport.arguments(
                for: target, settings: ssh, shared: true, remoteCommand: SSHTransport.remoteCommand(token: token))
            environment = SSHTransport.localEnvironment()
            workdir = nil
            remote = Remote(target: target, token: token, settings: ssh)
        }
        guard let program = argv.first, !program.isEmpty else { return failed("could not start: empty command") }
        let executable: String
        switch ExecutableLookup.resolve(program, path: environment["PATH"]) {
        case .success(let path): executable = path
        case .failure(let problem): return failed("could not start: \(problem.message)")
        }
        if let workdir {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: workdir, isDirectory: &isDirectory), isDirectory.boolValue
            else {
                return failed("could not start: workdir \(workdir): no such directory")
            }
        }

        var options = PlatformOptions()
        options.createSession = true
        // Safety net if the calling task is cancelled outright (the executor normally stops attempts itself). To
        // the leader only, through its pidfd: swift-subprocess may run this after it reaped the leader, when the
        // group id may belong to someone else. The tree is killed from inside the body below. A launcher gets the
        // kill order before swift-subprocess's final SIGKILL, so that it can still sweep.
        options.teardownSequence = [
            .gracefulShutDown(toProcessGroup: false, allowedDurationToNextStep: request.killGrace)
        ]
        if StepLauncher.isAvailable {
            options.teardownSequence.append(
                .send(
                    signal: Signal(rawValue: StepLauncher.killOrder), toProcessGroup: false,
                    allowedDurationToNextStep: StepLauncher.killOrderGrace))
        }
        let launch = StepLauncher.launch(
            executable: executable, program: program, arguments: Array(argv.dropFirst()), launcher: launcher)
        var processEnvironment: [Environment.Key: String] = [:]
        for (key, value) in environment.merging(launch.environment, uniquingKeysWith: { $1 }) {
            if let name = Environment.Key(rawValue: key) { processEnvironment[name] = value }
        }
        let configuration = Configuration(
            executable: .path(FilePath(launch.executable)),
            arguments: Arguments(executablePathOverride: launch.argv0, remainingValues: launch.arguments),
            environment: .custom(processEnvironment),
            workingDirectory: workdir.map { FilePath($0) },
            platformOptions: options)

        // Why the attempt ended is decided once, by whoever acts first (timer, stop request), before any
        // signal is sent; the process's own exit only says "exited" if nothing else was decided.
        let decision = Decision()
        do {
            let (out, err, status) =
                if let input {
                    try await execute(
                        configuration, input: .array(input), request: request, stop: stop, decision: decision,
                        remote: remote)
                } else {
                    try await execute(
                        configuration, input: .none, request: request, stop: stop, decision: decision, remote: remote)
                }
            let ending = decision.value ?? .exited
            var termination: AttemptResult.Termination
            switch status {
            case .exited(let code): termination = .exited(code)
            case .signaled(let signal): termination = .signaled(signal)
            }
            var stderr = err.text
            var killUnconfirmed: String?
            if let remote {
                // The shell's start and end marks: ssh's own failure (255 before the start) means nothing ran on
                // the target; the end mark means the shell swept the attempt's processes before it exited.
                let (started, session, withoutStart) = SSHTransport.takeStartMark(stderr)
                let swept = withoutStart.contains(SSHTransport.endMarker(token: remote.token))
                stderr = withoutStart.replacingOccurrences(
                    of: SSHTransport.endMarker(token: remote.token) + "\n", with: "")
                if !started, case .exited(255) = termination, ending == .exited {
                    // Medic's connection to the host was up (`SSHMasters`), yet the session failed before the
                    // start mark came. If the command's processes are found (and killed), it had started; if
                    // not, it may have run and ended: either way not retried as "nothing ran".
                    guard let pass = await Self.killRemote(remote), !pass.pids.isEmpty else {
                        let reason = stderr.split(separator: "\n").last.map(String.init) ?? "ssh failed"
                        return failed(
                            "ssh: the session on \(remote.target) failed; whether the command ran is unknown: \(reason)")
                    }
                    remote.notes.add(
                        "medic: the connection to \(remote.target) failed after the command had started; killed pids \(pass.pids.map(String.init).joined(separator: " "))"
                    )
                }
                if started, !swept, ending == .exited,
                    // The connection was lost while the command ran, or the remote sweep left something: nothing
                    // of the attempt may go on there unseen.
                    let pass = await Self.killRemote(remote, session: session), pass.survivors.isEmpty
                {
                    remote.notes.add(
                        "medic: the remote shell did not report its sweep; killed what was left of the attempt on \(remote.target): pids \(pass.pids.map(String.init).joined(separator: " "))"
                    )
                }
                // A clean sweep reported by the remote shell confirms it, whatever a second session could see.
                if !swept, !remote.notes.killWasConfirmed, remote.notes.unconfirmedReason != nil || ending != .exited {
                    killUnconfirmed = remote.notes.unconfirmedReason ?? "could not reach \(remote.leftovers) to kill them"
                }
                if ending != .exited {
                    termination = Self.remoteTermination(termination, swept: swept, killed: remote.notes.killWasConfirmed)
                }
                for note in remote.notes.all { stderr += (stderr.isEmpty || stderr.hasSuffix("\n") ? "" : "\n") + note + "\n" }
            }
            var result = AttemptResult(
                termination: termination, timedOut: ending == .timedOut, cancelled: ending == .stopped,
                stdout: out.text, stderr: stderr, stdoutBytes: out.totalBytes, stderrBytes: err.totalBytes,
                duration: ContinuousClock.now - started)
            result.killUnconfirmed = killUnconfirmed
            return result
        } catch {
            return failed("could not start: \(program): \(error)")
        }
    }

    /// Starts `configuration` with `input` on its stdin and watches it to its end.
    private func execute<Input: InputProtocol>(
        _ configuration: Configuration, input: Input, request: AttemptRequest, stop: StopSignal, decision: Decision,
        remote: Remote?
    ) async throws -> (BoundedCapture, BoundedCapture, TerminationStatus) {
        let limit = outputLimit
        let clock = self.clock
        let result = try await Subprocess.run(configuration, input: input, output: .sequence, error: .sequence) {
            execution -> (BoundedCapture, BoundedCapture, Ending) in
            let pid = execution.processIdentifier.value
            let pidfd = execution.processIdentifier.processDescriptor
            let processGroup = ProcessGroup(leader: pid, pidfd: pidfd)
            let captured: (BoundedCapture, BoundedCapture, Ending) = await withTaskGroup(of: Piece.self) {
                group in
                group.addTask { .stdout(await Self.capture(execution.standardOutput, limit: limit)) }
                group.addTask { .stderr(await Self.capture(execution.standardError, limit: limit)) }
                group.addTask {
                    .ended(
                        await Self.watch(
                            group: processGroup, request: request, stop: stop, clock: clock, decision: decision,
                            remote: remote))
                }
                var out = BoundedCapture(limit: limit)
                var err = BoundedCapture(limit: limit)
                var ending: Ending?
                var streamsOpen = 2
                while let piece = await group.next() {
                    switch piece {
                    case .stdout(let capture):
                        out = capture
                        streamsOpen -= 1
                    case .stderr(let capture):
                        err = capture
                        streamsOpen -= 1
                    case .ended(let value):
                        ending = value
                    }
                    if streamsOpen == 0, ending == nil {
                        // Both streams closed: the process has exited or is about to (the kernel closes its
                        // files just before it becomes a zombie), or it closed its output and lives on, in
                        // which case the watcher keeps its timeout running.
                        if await ExitWatcher(pid: pid, pidfd: pidfd).exitedSoon() {
                            ending = .exited
                            group.cancelAll()
                        }
                    }
                }
                return (out, err, ending ?? .exited)
            }
            // Anything the step left (for example `sleep 300 &` with its output redirected) dies with it. A
            // launcher that exited has done that already; one that runs still (the task was cancelled) gets the
            // kill order. Still inside the body: swift-subprocess has not reaped the leader, so the group id is
            // the leader's.
            await StepLauncher.killTree(processGroup, exit: ExitWatcher(pid: pid, pidfd: pidfd))
            return captured
        }
        let (out, err, _) = result.closureResult
        return (out, err, result.terminationStatus)
    }

    private static func capture(_ sequence: SubprocessOutputSequence, limit: Int) async -> BoundedCapture {
        var capture = BoundedCapture(limit: limit)
        do {
            for try await buffer in sequence {
                buffer.withUnsafeBytes { capture.append($0) }
            }
        } catch {
            // A read error ends the capture; what was read is kept.
        }
        return capture
    }

    /// Waits for the first of: the main process exiting, the timeout, a stop request. On timeout or stop it
    /// tears the step down (SIGTERM, grace, then its tree is killed). On exit it kills what the step left, so
    /// the output pipes close even when a background child still holds them (a launcher has done so already).
    private static func watch(
        group processGroup: ProcessGroup, request: AttemptRequest, stop: StopSignal, clock: any Clock<Duration>,
        decision: Decision, remote: Remote?
    ) async -> Ending {
        let exit = ExitWatcher(pid: processGroup.leader, pidfd: processGroup.pidfd)
        let ending: Ending? = await withTaskGroup(of: Ending?.self) { group in
            // Most steps end by closing their output, which the caller notices without a thread hop. Watching the
            // exit directly is for steps that exit while a background child still holds the pipes open; it starts
            // after a short delay, in the same task as the timeout, so a short step costs a single timer.
            group.addTask {
                let delay = Duration.milliseconds(20)
                let timeout = request.timeout
                do {
                    try await clock.sleep(for: timeout.map { min($0, delay) } ?? delay)
                } catch {
                    return nil
                }
                if let timeout, timeout <= delay { return decision.decide(.timedOut) }
                return await withTaskGroup(of: Ending?.self) { inner in
                    inner.addTask {
                        await exit.wait()
                        return Task.isCancelled ? nil : decision.decide(.exited)
                    }
                    if let timeout {
                        inner.addTask {
                            do {
                                try await clock.sleep(for: timeout - delay)
                                return decision.decide(.timedOut)
                            } catch {
                                return nil
                            }
                        }
                    }
                    let first = await inner.next() ?? nil
                    inner.cancelAll()
                    return first
                }
            }
            group.addTask {
                await stop.wait()
                return stop.isTriggered ? decision.decide(.stopped) : nil
            }
            var first: Ending?
            while let next = await group.next() {
                if let next {
                    first = next
                    break
                }
                if Task.isCancelled { break }
            }
            group.cancelAll()
            return first
        }
        guard let ending else {
            // The caller saw the process end and cancelled the watch.
            return decision.value ?? .exited
        }
        switch ending {
        case .exited:
            await StepLauncher.killTree(processGroup, exit: exit)
        case .timedOut, .stopped:
            if let remote {
                // Closing the channel would leave the remote command running: stop it there first, through a
                // connection of its own.
                await stopRemote(remote, exit: exit, grace: request.killGrace, clock: clock)
            }
            processGroup.signal(SIGTERM)
            _ = await waitForExit(exit, upTo: request.killGrace, clock: clock)
            // Kill the tree either way: members that trapped SIGTERM must not outlive the step.
            await StepLauncher.killTree(processGroup, exit: exit)
        }
        return ending
    }
}

extension SubprocessRunner {
    /// Whether the process exits within `grace` (false: the grace ran out first).
    static func waitForExit(_ exit: ExitWatcher, upTo grace: Duration, clock: any Clock<Duration>) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await exit.wait()
                return true
            }
            group.addTask {
                try? await clock.sleep(for: grace)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    /// SIGTERM to the remote processes, `grace` for them (and so the local ssh) to end, then SIGKILL to what is
    /// left; each step noted for the record. A SIGKILL pass that reached the target confirms the kill; one that
    /// could not leaves it unconfirmed (unless the remote shell swept and said so first).
    static func stopRemote(_ remote: Remote, exit: ExitWatcher, grace: Duration, clock: any Clock<Duration>) async {
        let where_ = remote.leftovers
        switch await SSHTransport.signalRemote(remote.target, token: remote.token, signal: "TERM", settings: remote.settings) {
        case .success(let pass):
            remote.notes.add("medic: sent SIGTERM on \(where_): pids \(pass.pids.map(String.init).joined(separator: " "))")
        case .failure(let problem):
            remote.notes.add("medic: could not send SIGTERM on \(where_): \(problem.reason); trying SIGKILL after the grace")
        }
        _ = await waitForExit(exit, upTo: grace, clock: clock)
        if let pass = await killRemote(remote), !pass.pids.isEmpty, pass.survivors.isEmpty {
            remote.notes.add(
                "medic: sent SIGKILL on \(where_) after \(grace.dslDescription): pids \(pass.pids.map(String.init).joined(separator: " "))")
        }
    }

    /// A SIGKILL pass over what is left of `remote` on its target (`session`: the remote shell's, when known).
    /// Confirms the kill, or notes why it stays unconfirmed (survivors, or no way to the target). Returns the
    /// pass when it reached the target.
    @discardableResult
    static func killRemote(_ remote: Remote, session: Int? = nil) async -> SSHTransport.RemoteSignal? {
        switch await SSHTransport.signalRemote(
            remote.target, token: remote.token, signal: "KILL", settings: remote.settings, session: session)
        {
        case .success(let pass) where pass.survivors.isEmpty:
            remote.notes.killConfirmed()
            return pass
        case .success(let pass):
            let left = pass.survivors.map(String.init).joined(separator: " ")
            remote.notes.add("medic: kill unconfirmed: after SIGKILL, pids \(left) still run on \(remote.target)")
            remote.notes.unconfirmed("pids \(left) still run on \(remote.leftovers) after SIGKILL")
            return pass
        case .failure(let problem):
            remote.notes.add("medic: kill unconfirmed: could not send SIGKILL on \(remote.leftovers): \(problem.reason)")
            remote.notes.unconfirmed("could not send SIGKILL on \(remote.leftovers): \(problem.reason)")
            return nil
        }
    }

    /// How a remote attempt that Medic stopped ended, as a local one would read. The remote shell reports a
    /// command killed by a signal as 128 + the signal, which for the signals Medic sends (TERM, then KILL) is
    /// read as the signal; a shell that was itself killed (ssh then exits 255 with no status) died of SIGKILL.
    static func remoteTermination(
        _ termination: AttemptResult.Termination, swept: Bool, killed: Bool
    ) -> AttemptResult.Termination {
        guard case .exited(let code) = termination else { return termination }
        if swept, code == 128 + SIGTERM || code == 128 + SIGKILL { return .signaled(code - 128) }
        if !swept, killed, code == 255 { return .signaled(SIGKILL) }
        return termination
    }
}

/// The single decision of why an attempt ended; the first caller wins.
final class Decision: Sendable {
    private let state = Mutex<SubprocessRunner.Ending?>(nil)

    var value: SubprocessRunner.Ending? { state.withLock { $0 } }

    /// Records `ending` unless something was decided before; returns what stands.
    func decide(_ ending: SubprocessRunner.Ending) -> SubprocessRunner.Ending {
        state.withLock { current in
            if current == nil { current = ending }
            return current!
        }
    }
}

/// Waits, without reaping, for a child process to exit: on its pidfd through the shared `ExitMonitor` where
/// the kernel has pidfds, by polling `waitid(WNOWAIT)` on a dispatch thread in short slices otherwise. No
/// cooperative thread is ever blocked, and cancellation is noticed promptly.
final class ExitWatcher: Sendable {
    let pid: pid_t
    let pidfd: CInt

    init(pid: pid_t, pidfd: CInt) {
        self.pid = pid
        self.pidfd = pidfd
    }

    /// True when the process has exited now or within about a millisecond (without blocking a thread).
    func exitedSoon() async -> Bool {
        for attempt in 0..<20 {
            if hasExited(waitMilliseconds: 0) { return true }
            if attempt < 5 {
                await Task.yield()
            } else {
                try? await Task.sleep(for: .microseconds(100))
            }
        }
        return false
    }

    /// True when the process has exited (without blocking).
    var hasExited: Bool { hasExited(waitMilliseconds: 0) }

    /// Waits up to `limit` for the exit on a Dispatch thread, whether or not the calling task is cancelled: for
    /// teardown that must finish even then. True when the process exited.
    func waitIgnoringCancellation(upTo limit: Duration) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            DispatchQueue.global().async {
                let deadline = ContinuousClock.now + limit
                while true {
                    let left = deadline - ContinuousClock.now
                    if left <= .zero {
                        continuation.resume(returning: self.hasExited(waitMilliseconds: 0))
                        return
                    }
                    let slice = Int32(min(max(left / .milliseconds(1), 1), 50))
                    if self.hasExited(waitMilliseconds: slice) {
                        continuation.resume(returning: true)
                        return
                    }
                }
            }
        }
    }

    private func hasExited(waitMilliseconds: Int32) -> Bool {
        if pidfd >= 0 {
            var descriptor = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, waitMilliseconds)
            return ready > 0
        }
        var info = siginfo_t()
        let rc = waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT | WNOHANG)
        if rc == 0 && info._sifields._sigchld.si_pid == 0 {
            if waitMilliseconds > 0 { usleep(useconds_t(waitMilliseconds) * 1000) }
            return false
        }
        return true
    }

    func wait() async {
        if hasExited(waitMilliseconds: 0) { return }
        if pidfd >= 0 {
            // One shared thread waits on every running step's pidfd (no dispatch thread parked per step).
            _ = await ExitMonitor.shared.waitForExit(pidfd: pidfd)
            return
        }
        while !Task.isCancelled {
            let exited = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                DispatchQueue.global().async {
                    continuation.resume(returning: self.hasExited(waitMilliseconds: 50))
                }
            }
            if exited { return }
        }
    }
}
