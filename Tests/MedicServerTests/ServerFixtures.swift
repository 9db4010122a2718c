import Foundation

/// Paths the server tests read: the package root (for `examples/`) and scratch files.
enum ServerFixtures {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// A new file in the temporary directory holding `text`; its path.
    static func file(_ text: String, name: String = "medic-server-test") throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID())").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
