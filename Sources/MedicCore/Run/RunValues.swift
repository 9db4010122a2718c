/// How a run ended (DESIGN.md "Outcomes"). `interrupted`, `shadowed`, `suppressed` and `awaiting_approval`
/// are decided outside the run state machine.
public enum RunOutcome: String, Sendable, Equatable, CaseIterable, Codable {
    case succeeded
    case failed
    case rollbackFailed = "rollback_failed"
    case timedOut = "timed_out"
    case cancelled
    case interrupted
    case shadowed
    case suppressed
    case awaitingApproval = "awaiting_approval"
}

/// Whether an attempt belongs to a step or to its rollback.
public enum AttemptPhase: String, Sendable, Equatable, Hashable, Codable {
    case main
    case rollback
}

/// What to execute: an argv list or a `/bin/sh -eu` script.
public enum Command: Sendable, Equatable {
    case argv([String])
    case shell(String)

    /// The argv actually handed to `execve`.
    public var argv: [String] {
        switch self {
        case .argv(let arguments): arguments
        case .shell(let script): ["/bin/sh", "-eu", "-c", script, "medic-step"]
        }
    }
}

/// One attempt to start: fully rendered, ready for a process runner.
public struct AttemptRequest: Sendable, Equatable {
    public var step: String
    public var phase: AttemptPhase
    /// 1-based.
    public var attempt: Int
    public var command: Command
    /// The complete environment of the process (nothing else is inherited).
    public var environment: [String: String]
    public var workdir: String?
    public var timeout: Duration?
    public var killGrace: Duration
    /// Where to run it; nil runs it here.
    public var target: ResolvedTarget?

    public init(
        step: String, phase: AttemptPhase, attempt: Int, command: Command, environment: [String: String],
        workdir: String? = nil, timeout: Duration? = nil, killGrace: Duration = StepBody.defaultKillGrace,
        target: ResolvedTarget? = nil
    ) {
        self.step = step
        self.phase = phase
        self.attempt = attempt
        self.command = command
        self.environment = environment
        self.workdir = workdir
        self.timeout = timeout
        self.killGrace = killGrace
        self.target = target
    }
}

/// How an attempt ended, as a value: non-zero exits, signals, timeouts and launch failures are outcomes.
public struct AttemptResult: Sendable, Equatable {
    public enum Termination: Sendable, Equatable {
        case exited(Int32)
        case signaled(Int32)
        /// The process never started (executable missing, not executable, bad workdir).
        case launchFailed(String)
    }

    public var termination: Termination
    /// A remote target could not be reached (ssh's own failure): nothing ran there, and the attempt may be
    /// retried like a failed one.
    public var unreachable = false
    /// A remote attempt that was to be killed (timeout, cancel, lost connection) but whose target could not be
    /// reached to confirm it: what may still run there, and where. Never retried; the run escalates.
    public var killUnconfirmed: String?
    /// Decided by Medic's timer, not by the exit status.
    public var timedOut: Bool
    /// Torn down because the run was stopping (another step failed, deadline, cancel).
    public var cancelled: Bool
    public var stdout: String
    public var stderr: String
    public var stdoutBytes: Int
    public var stderrBytes: Int
    public var duration: Duration

    public init(
        termination: Termination, timedOut: Bool = false, cancelled: Bool = false, stdout: String = "",
        stderr: String = "", stdoutBytes: Int? = nil, stderrBytes: Int? = nil, duration: Duration = .zero
    ) {
        self.termination = termination
        self.timedOut = timedOut
        self.cancelled = cancelled
        self.stdout = stdout
        self.stderr = stderr
        self.stdoutBytes = stdoutBytes ?? stdout.utf8.count
        self.stderrBytes = stderrBytes ?? stderr.utf8.count
        self.duration = duration
    }

    // Not inlined: Swift 6.3's optimizer miscompiles these switches when inlined into async closures
    // ("Found ownership error" in release builds).
    @inline(never)
    public var succeeded: Bool {
        if case .exited(0) = termination, !timedOut, !cancelled { return true }
        return false
    }

    // Not inlined: Swift 6.3's optimizer miscompiles these switches when inlined into async closures
    // ("Found ownership error" in release builds).
    @inline(never)
    public var exitCode: Int? {
        if case .exited(let code) = termination { return Int(code) }
        return nil
    }

    /// Why the process never started, if it did not.
    // Not inlined: Swift 6.3's optimizer miscompiles these switches when inlined into async closures
    // ("Found ownership error" in release builds).
    @inline(never)
    public var launchFailure: String? {
        switch termination {
        case .launchFailed(let reason): reason
        case .exited, .signaled: nil
        }
    }

    // Not inlined: Swift 6.3's optimizer miscompiles these switches when inlined into async closures
    // ("Found ownership error" in release builds).
    @inline(never)
    public var signal: Int? {
        if case .signaled(let signal) = termination { return Int(signal) }
        return nil
    }
}

/// The final status of a step in a run report.
public enum StepReportStatus: String, Sendable, Equatable, Codable, CaseIterable {
    case succeeded, failed
    case timedOut = "timed_out"
    case skipped, cancelled
    case notRun = "not_run"
    case rolledBack = "rolled_back"
    case rollbackFailed = "rollback_failed"
}

extension StepOutputs {
    /// What later steps read of a finished attempt, with the status it ended in.
    public init(_ result: AttemptResult, status: String) {
        self.init(stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode ?? -1, status: status)
    }

    /// What later steps read of a probed (readonly) step: `succeeded`, `timed_out` or `failed`.
    public init(probed result: AttemptResult) {
        self.init(result, status: result.succeeded ? "succeeded" : (result.timedOut ? "timed_out" : "failed"))
    }
}

extension AttemptResult {
    /// The result's fields as recorded in `attempt.finished` and shown in run reports.
    public var jsonFields: [String: JSONValue] {
        var fields: [String: JSONValue] = [
            "exit_code": exitCode.map { JSONValue($0) } ?? .null,
            "signal": signal.map { JSONValue($0) } ?? .null,
            "timed_out": .bool(timedOut), "cancelled": .bool(cancelled),
            "duration_ms": JSONValue(Int(duration.milliseconds)),
            "stdout": .string(stdout), "stderr": .string(stderr),
            "stdout_bytes": JSONValue(stdoutBytes), "stderr_bytes": JSONValue(stderrBytes),
        ]
        if let reason = launchFailure { fields["error"] = .string(reason) }
        if let unconfirmed = killUnconfirmed { fields["kill_unconfirmed"] = .string(unconfirmed) }
        return fields
    }

    /// The same result with `redactor` applied to its captured output.
    public func redacted(by redactor: Redactor) -> AttemptResult {
        var copy = self
        copy.stdout = redactor.redact(stdout)
        copy.stderr = redactor.redact(stderr)
        return copy
    }
}
