import MedicCore

/// The seam between the executor and the operating system: runs one attempt to its end and reports how it
/// ended. `SubprocessRunner` is the real one; tests of the executor may use a scripted one.
public protocol ProcessRunner: Sendable {
    /// Runs `request` until it exits, times out (its `timeout`), or `stop` is triggered; never throws: every
    /// way an attempt can end, including failing to start, is an `AttemptResult`.
    func run(_ request: AttemptRequest, stop: StopSignal) async -> AttemptResult
}
