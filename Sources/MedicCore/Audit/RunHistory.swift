/// The history of runs that the server's query API reads: a seam the SQLite audit log implements today and a
/// PostgreSQL store can later. Reads may block on a database, so a conformer does them off the async runtime's
/// cooperative threads. Throws only when the store cannot be read; a run that does not exist is nil or empty.
public protocol RunHistory: Sendable {
    /// Runs passing `filter`, newest first (started later first, then the greater id), at most `filter.limit`.
    func runs(matching filter: RunFilter) async throws -> [RunSummary]
    /// One run's summary, or nil when there is no such run.
    func summary(ofRun id: String) async throws -> RunSummary?
    /// One run's records in chain order; empty when there is no such run.
    func records(ofRun id: String) async throws -> [AuditRecord]
}
