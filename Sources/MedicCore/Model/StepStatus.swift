/// How a step ended; what `steps.ID.status` reads.
public enum StepStatus: String, Sendable, Equatable, CaseIterable {
    case succeeded
    case failed
    case timedOut = "timed_out"
    case skipped
    case cancelled
}
