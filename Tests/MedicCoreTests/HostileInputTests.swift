import Foundation
import MedicCore
import MedicStore
import Testing

/// Malformed and hostile files end in a clear diagnostic, never a crash or a hang.
@Suite struct HostileInputTests {
    static func ids(_ data: Data) -> [String] {
        RunbookSource.check(data: data, path: "hostile.yaml").diagnostics.map(\.id)
    }

    @Test("an empty file")
    func empty() {
        #expect(Self.ids(Data()) == ["empty-document"])
    }

    @Test("a binary file that is not UTF-8")
    func binary() {
        var bytes = [UInt8](repeating: 0, count: 4096)
        for index in bytes.indices { bytes[index] = UInt8((index * 7919) % 256) }
        #expect(Self.ids(Data(bytes)) == ["not-utf8"])
    }

    @Test("UTF-8 text that is not YAML at all")
    func notYAML() {
        let ids = Self.ids(Data("{\"unterminated\": [1, 2,\n\u{0}\u{1}".utf8))
        #expect(ids.count == 1)
        #expect(ids.first == "yaml-syntax")
    }

    @Test("a scalar or a list instead of a mapping")
    func notAMapping() {
        #expect(Self.ids(Data("just a string\n".utf8)) == ["wrong-type"])
        #expect(Self.ids(Data("[1, 2]\n".utf8)) == ["wrong-type"])
    }

    @Test("a 10 MB file is refused by size, before parsing")
    func huge() throws {
        let line = "# " + String(repeating: "x", count: 98) + "\n"
        let data = Data(String(repeating: line, count: 100_000).utf8)
        #expect(Self.ids(data) == ["file-too-large"])

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("medic-huge-\(UUID()).yaml")
        try data.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(RunbookDirectory().check(file: file.path).diagnostics.map(\.id) == ["file-too-large"])
    }

    @Test("deeply nested flow and block YAML hits the nesting limit")
    func deepNesting() {
        let flow = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(Self.ids(Data(flow.utf8)) == ["nesting-too-deep"])
        let block = String(repeating: "- ", count: 100_000) + "x\n"
        #expect(Self.ids(Data(block.utf8)) == ["nesting-too-deep"])
        let mappings =
            (0..<1_100).map { String(repeating: " ", count: $0) + "k:\n" }.joined()
            + String(repeating: " ", count: 1_100) + "v\n"
        #expect(Self.ids(Data(mappings.utf8)).contains("nesting-too-deep"))
    }

    @Test("billion laughs: aliases that expand exponentially are cut off")
    func billionLaughs() {
        var lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for level in 1...9 {
            let refs = Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ")
            lines.append("a\(level): &a\(level) [\(refs)]")
        }
        // Put the bomb where the decoder descends: the steps list.
        lines.append("runbook: bomb")
        lines.append("steps: *a9")
        let ids = Self.ids(Data(lines.joined(separator: "\n").utf8))
        #expect(ids == ["too-many-nodes"])
    }

    @Test("aliases used as keys (the hash-flooding variant) are refused before parsing")
    func aliasKeys() {
        let text = """
            a: &a [x, x, x, x, x, x, x, x]
            b: &b [*a, *a, *a, *a, *a, *a, *a, *a]
            c: { *b : 1 }
            """
        #expect(Self.ids(Data(text.utf8)) == ["alias-as-key"])
        let complex = "a: &a [x]\nb:\n  ? *a\n  : 1\n"
        #expect(Self.ids(Data(complex.utf8)) == ["alias-as-key"])
    }

    @Test("ordinary anchors, aliases and merge keys are fine")
    func anchorsAllowed() throws {
        let text = """
            runbook: merged
            triggers:
              - match: ['alertname="X"']
            steps:
              - &base
                id: one
                run: ["true"]
                timeout: 5s
                retry: &retry { attempts: 3, delay: 1s }
              - <<: *base
                id: two
                retry: *retry
            """
        let source = RunbookSource.check(data: Data(text.utf8), path: "merged.yaml")
        #expect(source.diagnostics.isEmpty)
        let runbook = try #require(source.runbook)
        #expect(runbook.steps.map(\.id) == ["one", "two"])
        #expect(runbook.steps[1].body.retry?.attempts == 3)
        #expect(runbook.steps[1].body.timeout == .seconds(5))
    }

    @Test("YAML 1.1 booleans do not leak into string fields (the Norway problem)")
    func norway() throws {
        let text = """
            runbook: norway
            params:
              country: { type: string, default: NO, enum: [NO, SE, 'on'] }
            triggers:
              - match: ['alertname="X"']
            steps:
              - id: show
                run: [echo, '{{ params.country }}', off]
                timeout: 5s
            """
        let source = RunbookSource.check(data: Data(text.utf8), path: "norway.yaml")
        #expect(source.diagnostics.isEmpty)
        let runbook = try #require(source.runbook)
        #expect(runbook.params[0].defaultValue == .string("NO"))
        #expect(
            runbook.steps[0].body.action
                == .run([Template.parse("echo").0, Template.parse("{{ params.country }}").0, Template(literal: "off")]))
    }

    @Test("CRLF line endings: positions and the printed source line are right")
    func crlf() throws {
        let text =
            "runbook: crlf\r\nsteps:\r\n  - id: a\r\n    run: [\"true\"]\r\n    retires: 1\r\n    timeout: 1s\r\n"
        let source = RunbookSource.check(data: Data(text.utf8), path: "crlf.yaml")
        let error = try #require(source.diagnostics.first { $0.id == "unknown-key" })
        #expect(error.location == SourceLocation(line: 5, column: 5, length: 7))
        #expect(
            DiagnosticRenderer.text(error, sourceMap: source.sourceMap).hasSuffix("\n    retires: 1\n    ^~~~~~~\n"))
    }
}
