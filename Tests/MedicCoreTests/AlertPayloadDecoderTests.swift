import Foundation
import MedicCore
import Testing

@Suite struct AlertPayloadDecoderTests {
    static let fixtures = Fixtures.packageRoot.deletingLastPathComponent().appendingPathComponent(
        "shared/fixtures/alerts")

    static var fixtureNames: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: fixtures.path)) ?? []).filter { $0.hasSuffix(".json") }
            .sorted()
    }

    @Test("the shared fixtures are present")
    func fixturesPresent() {
        #expect(Self.fixtureNames.count >= 15)
    }

    @Test("every captured payload decodes, and given fingerprints equal Alertmanager's FNV-1a", arguments: fixtureNames)
    func decodes(name: String) throws {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent(name))
        let note =
            (try? String(
                contentsOf: Self.fixtures.appendingPathComponent(
                    name.replacingOccurrences(of: ".json", with: ".source.txt")), encoding: .utf8)) ?? ""
        // Sidecars say when a fixture was hand-edited; those fingerprints are not Alertmanager's.
        let fingerprintsGenuine = !note.contains("hand-edited")
        let alerts = try AlertPayloadDecoder.decode(data)
        #expect(!alerts.isEmpty)
        let raw = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let items = (raw["alerts"] as? [[String: Any]]) ?? [raw]
        #expect(alerts.count == items.count)
        for (alert, item) in zip(alerts, items) {
            #expect(alert.fingerprint.count == 16)
            #expect(alert.status.rawValue == ((item["status"] as? String) ?? (raw["status"] as? String) ?? "firing"))
            if name.hasPrefix("2") {
                #expect(alert.source == .grafana)
            }
            // Alertmanager computed these; Grafana's own fingerprints use another hash.
            if alert.source == .alertmanager, fingerprintsGenuine, let given = item["fingerprint"] as? String,
                !given.isEmpty
            {
                #expect(Alert.fingerprint(of: alert.labels) == given)
            }
        }
    }

    @Test("a missing fingerprint is computed from the labels")
    func computedFingerprint() throws {
        let alerts = try AlertPayloadDecoder.decode(
            Data(#"{"labels":{"alertname":"X","instance":"db1"},"status":"firing"}"#.utf8))
        #expect(alerts.first?.source == .json)
        #expect(alerts.first?.fingerprint == Alert.fingerprint(of: ["alertname": "X", "instance": "db1"]))
        #expect(Alert.fingerprint(of: [:]) == "cbf29ce484222325")
    }

    @Test(
        "malformed payloads name the JSON path and what was expected",
        arguments: [
            ("not json", "$"),
            (#"{"alerts": {}}"#, "$.alerts"),
            (#"{"alerts": [{"labels": {"a": 1.5, "b": ["x"]}}]}"#, "$.alerts[0].labels.b"),
            (#"{"alerts": [{"labels": {}, "status": "burning"}]}"#, "$.alerts[0].status"),
            (#"{"alerts": [{"labels": {}, "startsAt": "yesterday"}]}"#, "$.alerts[0].startsAt"),
            (#"{"annotations": {}}"#, "$.labels"),
            (#"[{"labels": {}}, 3]"#, "$[1]"),
        ])
    func malformed(text: String, path: String) {
        do {
            _ = try AlertPayloadDecoder.decode(Data(text.utf8))
            Issue.record("expected an error for \(text)")
        } catch {
            #expect(error.path == path, "\(error)")
        }
    }
}
