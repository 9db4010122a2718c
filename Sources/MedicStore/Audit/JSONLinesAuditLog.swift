import Foundation
import MedicCore

/// Appends audit events to a JSON Lines file, one event per line, synced to disk after each write.
/// A stopgap until the hash-chained SQLite log: same seam, same events.
public final class JSONLinesAuditLog: AuditLog, Sendable {
    private let handle: FileHandle
    /// Writes and syncs in order, on a thread of its own: an fsync never holds a cooperative thread.
    private let queue = DispatchQueue(label: "medic.jsonl-audit")
    public let path: String

    public init(path: String) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
            else {
                throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
            }
        }
        handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
    }

    public func append(_ event: AuditEvent) async throws {
        try await append(batch: [event])
    }

    public func append(batch events: [AuditEvent]) async throws {
        let data = Data(events.map { $0.jsonLine + "\n" }.joined().utf8)
        let handle = self.handle
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            queue.async {
                continuation.resume(
                    with: Result {
                        try handle.write(contentsOf: data)
                        try handle.synchronize()
                    })
            }
        }
    }

    deinit {
        try? handle.close()
    }
}
