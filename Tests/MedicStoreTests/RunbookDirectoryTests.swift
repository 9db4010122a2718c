import Foundation
import MedicCore
import MedicStore
import Testing

/// Loading a runbook set, and reading it again compactly for a long-running server.
@Suite struct RunbookDirectoryTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("medic-rbdir-\(UUID())")

    func write(_ name: String, id: String) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try
            "runbook: \(id)\ntriggers:\n  - match: ['alertname=\"X\"']\nsteps:\n  - id: s\n    run: [\"true\"]\n    timeout: 5s\n"
            .write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    @Test("the compact second read gives the same runbooks, and nil once a file no longer checks clean")
    func compactRead() throws {
        try write("a.yaml", id: "alpha")
        try write("b.yaml", id: "beta")
        let loaded = try RunbookDirectory().load([directory.path])
        #expect(loaded.runbookFiles.count == 2)
        let ids = loaded.runbooks.map(\.id)
        let compact = try #require(RunbookDirectory().compactRunbooks(files: loaded.runbookFiles, expecting: ids))
        #expect(compact.map(\.id) == ["alpha", "beta"])
        #expect(compact.map(\.steps.count) == loaded.runbooks.map(\.steps.count))

        try "runbook: beta\nsteps: [".write(
            to: directory.appendingPathComponent("b.yaml"), atomically: true, encoding: .utf8)
        #expect(RunbookDirectory().compactRunbooks(files: loaded.runbookFiles, expecting: ids) == nil)
        try write("b.yaml", id: "gamma")
        #expect(RunbookDirectory().compactRunbooks(files: loaded.runbookFiles, expecting: ids) == nil)
    }
}
