import Foundation
import MedicCore

/// Appends audit events to a JSON Lines file, one event per line, synced to disk after each write.
/// A stopgap until the hash-chained SQLite log: same seam, same events.
public actor JSONLinesAuditLog: AuditLog {
    private let handle: FileHandle
    public nonisolated let path: String

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
        try handle.write(contentsOf: Data((event.jsonLine + "\n").utf8))
        try handle.synchronize()
    }

    deinit {
        try? handle.close()
    }
}
