/// A benchmark that cannot be set up (no runbooks to copy, a spawn that fails): the command reports it as a
/// usage error, as before the harness left the executable.
public struct BenchFailure: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}
