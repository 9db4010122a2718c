/// A run history held in memory, for tests: the summaries and records it was given, filtered as a store would.
public struct InMemoryRunHistory: RunHistory {
    public var summaries: [RunSummary]
    public var recordsByRun: [String: [AuditRecord]]

    public init(summaries: [RunSummary] = [], records: [AuditRecord] = []) {
        self.summaries = summaries
        self.recordsByRun = Dictionary(grouping: records.filter { $0.runID != nil }) { $0.runID! }
    }

    public func runs(matching filter: RunFilter) async throws -> [RunSummary] {
        let newestFirst = summaries.sorted { ($0.startedAt, $0.id) > ($1.startedAt, $1.id) }
        return Array(newestFirst.filter(filter.admits).prefix(filter.limit))
    }

    public func summary(ofRun id: String) async throws -> RunSummary? {
        summaries.first { $0.id == id }
    }

    public func records(ofRun id: String) async throws -> [AuditRecord] {
        recordsByRun[id] ?? []
    }
}
