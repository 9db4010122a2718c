/// How a failed attempt is retried: how many attempts in all, how long to wait, and which failures qualify.
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts in all, the first included.
    public var attempts: Int
    public var delay: Duration
    public var backoff: Backoff
    public var maxDelay: Duration?
    /// Each delay is multiplied by a random factor in `[1 - jitter, 1 + jitter]`.
    public var jitter: Double
    /// When set, only these exit codes are retried.
    public var onExit: [Int]?
    /// Whether a timed-out attempt is retried.
    public var onTimeout: Bool

    public init(
        attempts: Int, delay: Duration = .seconds(1), backoff: Backoff = .fixed, maxDelay: Duration? = nil,
        jitter: Double = RetryPolicy.defaultJitter, onExit: [Int]? = nil, onTimeout: Bool = true
    ) {
        self.attempts = attempts
        self.delay = delay
        self.backoff = backoff
        self.maxDelay = maxDelay
        self.jitter = jitter
        self.onExit = onExit
        self.onTimeout = onTimeout
    }

    public static let defaultJitter = 0.1
    public static let defaultDelay: Duration = .seconds(1)

    /// How the delay grows between attempts.
    public enum Backoff: String, Sendable, Equatable, CaseIterable {
        /// The same delay every time.
        case fixed
        /// The delay doubles after every attempt.
        case exponential
    }
}
