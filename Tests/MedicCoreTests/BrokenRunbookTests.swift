import Foundation
import MedicCore
import MedicStore
import Testing

/// Each fixture under Fixtures/broken holds exactly one problem, named by its `# expect: ID` line.
/// Its rendered diagnostics (line, column, message, source line, caret) must match the `.golden` file.
@Suite struct BrokenRunbookTests {
    static func check(_ name: String) throws -> (RunbookSource, String) {
        let url = Fixtures.broken.appendingPathComponent("\(name).yaml")
        let source = RunbookDirectory().check(file: url.path)
        var relabeled = source
        relabeled.diagnostics = source.diagnostics.map {
            var diagnostic = $0
            diagnostic.file = "broken/\(name).yaml"
            return diagnostic
        }
        let rendered = relabeled.diagnostics.sortedForDisplay()
            .map { DiagnosticRenderer.text($0, sourceMap: source.sourceMap) }.joined()
        return (relabeled, rendered)
    }

    static func expectedID(_ name: String) throws -> String {
        let text = try String(contentsOf: Fixtures.broken.appendingPathComponent("\(name).yaml"), encoding: .utf8)
        if let line = text.split(separator: "\n").first, line.hasPrefix("# expect: ") {
            return String(line.dropFirst("# expect: ".count))
        }
        return try String(contentsOf: Fixtures.broken.appendingPathComponent("\(name).expect"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("there are many broken fixtures")
    func fixturesExist() {
        #expect(Fixtures.brokenNames.count >= 40)
    }

    @Test("each broken fixture reports exactly its one error", arguments: Fixtures.brokenNames)
    func oneErrorEach(name: String) throws {
        let (source, _) = try Self.check(name)
        let errors = source.diagnostics.filter { $0.severity == .error }
        #expect(errors.count == 1, "\(name): \(errors.map(\.text))")
        #expect(errors.first?.id == (try Self.expectedID(name)))
        #expect(source.runbook == nil)
        for error in errors {
            #expect(error.location != nil)
        }
    }

    @Test("rendered diagnostics match the golden files", arguments: Fixtures.brokenNames)
    func golden(name: String) throws {
        let (_, rendered) = try Self.check(name)
        let goldenURL = Fixtures.broken.appendingPathComponent("\(name).golden")
        if Fixtures.updateGolden {
            try rendered.write(to: goldenURL, atomically: true, encoding: .utf8)
        }
        let golden = try String(contentsOf: goldenURL, encoding: .utf8)
        #expect(rendered == golden)
    }

    @Test("one broken file with many problems reports all of them in one pass")
    func everyProblemAtOnce() throws {
        let text = """
            runbook: Bad_ID
            params:
              host: { type: strin, from: alert.label.instance }
              n: { type: int, min: 10, max: 5 }
            triggers:
              - match: ['severity=~"(warn"']
                cooldown: 30
            steps:
              - id: a
                run: [echo, '{{ params.hots }}']
                retires: 3
                timeout: 5s
              - id: b
                shell: echo {{ params.n }}
                needs: [c]
                timeout: 5s
              - id: c
                needs: [b]
                run: "rm -rf /"
                timeout: 5s
            """
        let source = RunbookSource.check(data: Data(text.utf8), path: "many.yaml")
        let ids = source.diagnostics.filter { $0.severity == .error }.map(\.id)
        #expect(
            Set(ids) == [
                "invalid-id", "invalid-value", "invalid-source", "min-above-max", "invalid-regex", "invalid-duration",
                "unknown-param", "unknown-key", "template-in-shell", "dependency-cycle", "wrong-type",
            ])
        let cycle = source.diagnostics.first { $0.id == "dependency-cycle" }
        #expect(cycle?.text == "dependency cycle: b → c → b")
        let retires = source.diagnostics.first { $0.id == "unknown-key" }
        #expect(retires?.text.contains("did you mean 'retry'?") == true)
        #expect(retires?.location == SourceLocation(line: 11, column: 5, length: 7))
    }
}
