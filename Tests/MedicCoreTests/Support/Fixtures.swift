import Foundation

/// Locations of test fixtures and shipped files, found from this source file (no bundle resources needed).
enum Fixtures {
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let packageRoot = testsDirectory.deletingLastPathComponent().deletingLastPathComponent()
    static let broken = testsDirectory.appendingPathComponent("Fixtures/broken")
    static let runbooks = packageRoot.appendingPathComponent("runbooks")

    /// Names (without extension) of the broken-runbook fixtures.
    static var brokenNames: [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: broken.path)) ?? []
        return files.filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// Set MEDIC_UPDATE_GOLDEN=1 to rewrite golden files from the current output instead of comparing.
    static var updateGolden: Bool { ProcessInfo.processInfo.environment["MEDIC_UPDATE_GOLDEN"] == "1" }
}
