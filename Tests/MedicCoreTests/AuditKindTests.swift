import Foundation
import MedicCore
import Testing

/// Record kinds are one vocabulary: spelled in `AuditKind` and nowhere else in the sources.
@Suite struct AuditKindTests {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources")

    @Test("no record kind is spelled as a string literal outside AuditKind")
    func noLiteralKinds() throws {
        let files = try #require(FileManager.default.enumerator(at: Self.sources, includingPropertiesForKeys: nil))
        var offenders: [String] = []
        var scanned = 0
        for case let file as URL in files where file.pathExtension == "swift" {
            guard file.lastPathComponent != "AuditKind.swift" else { continue }
            scanned += 1
            let text = try String(contentsOf: file, encoding: .utf8)
            for kind in AuditKind.allCases {
                for quote in ["\"", "'"] where text.contains(quote + kind.rawValue + quote) {
                    offenders.append("\(file.lastPathComponent): \(kind.rawValue)")
                }
            }
        }
        #expect(scanned > 50)
        #expect(offenders.isEmpty, "\(offenders)")
    }

    @Test("the decision kinds carry the words HTTP, medic match and metrics use")
    func decisionWords() {
        #expect(AuditKind.allCases.compactMap(\.decision) == ["run", "shadowed", "queued", "awaiting_approval", "suppressed"])
        #expect(AuditKind.allCases.filter(\.isDecision).allSatisfy { $0.rawValue == "decision." + $0.decision! })
    }

    @Test("a body of another kind, or one that does not decode, reads as nil; unknown fields are ignored")
    func typedBodies() {
        let finished = AuditRecord(
            seq: 1, time: "2026-01-01T00:00:00.000Z", kind: "run.finished", runID: "r",
            body: #"{"duration_ms":5,"new_field":[1],"outcome":"succeeded"}"#, prevHash: "", hash: "")
        #expect(finished.body(as: RunFinishedBody.self)?.outcome == .succeeded)
        #expect(finished.body(as: RunStartedBody.self) == nil)
        let future = AuditRecord(
            seq: 2, time: "2026-01-01T00:00:00.000Z", kind: "run.teleported", runID: "r", body: "{}", prevHash: "",
            hash: "")
        #expect(future.auditKind == nil)
        let started = AuditRecord(
            seq: 3, time: "2026-01-01T00:00:00.000Z", kind: "run.started", runID: "r",
            body: #"{"alert":{"labels":{"on_interrupt":"rollback"}},"runbook":"x"}"#, prevHash: "", hash: "")
        #expect(started.body(as: RunStartedBody.self)?.onInterrupt == .record)
    }
}
