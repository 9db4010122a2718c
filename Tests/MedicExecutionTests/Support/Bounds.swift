/// Wall-clock bounds in tests that check something ends "at once" rather than by waiting out a long timeout.
///
/// CI runs the whole suite in parallel on 2 cores, beside a CPU-bound regex vector check and real sshd servers,
/// and a test there was seen to stall for 4.5 s of wall clock with nothing wrong. So a bound is not the expected
/// duration with a margin: it is well below what the broken behaviour would take (a 60 s step timeout, a
/// `sleep 300`, a step that never exits), and far above any honest stall.
enum Bounds {
    /// Ends "at once": the step or run being torn down would otherwise last a minute or more.
    static let promptly = Duration.seconds(30)
}
