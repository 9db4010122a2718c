import Foundation
import Hummingbird
import MedicCore
import MedicExecution
import MedicServer
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The intake server over real HTTP on 127.0.0.1, with URLSession.
@Suite struct IntakeServerTests {
    static func runbook(_ marker: String) throws -> Runbook {
        let text = """
            runbook: down-fix
            params:
              host: { type: string, from: alert.labels.instance, pattern: '[a-z0-9.:-]+' }
            triggers:
              - match: ['alertname="Down"']
            steps:
              - id: fix
                run: [sh, -c, 'echo "fixed $1" >> \(marker)', x, '{{ params.host }}']
                timeout: 5s
            """
        return try #require(RunbookSource.check(data: Data(text.utf8), path: "down.yaml").runbook)
    }

    /// Starts the server on an ephemeral loopback port, runs `body` with its base URL, then shuts it down.
    static func withServer(
        audit: any AuditLog, marker: String, settings: IntakeServer.Settings,
        _ body: @Sendable (URL) async throws -> Void
    ) async throws {
        let dispatcher = Dispatcher(
            runbooks: [try runbook(marker)], audit: audit, environment: ["PATH": "/usr/bin:/bin"])
        let server = IntakeServer(dispatcher: dispatcher, settings: settings, digest: { "digest-\($0.count)" })
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: server.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            group.addTask { await dispatcher.run() }
            var iterator = ports.makeAsyncIterator()
            let port = await iterator.next() ?? 0
            try await body(URL(string: "http://127.0.0.1:\(port)")!)
            group.cancelAll()
        }
    }

    static func post(_ url: URL, _ body: Data, token: String? = nil, signature: String? = nil) async throws -> (
        Int, String
    ) {
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.httpBody = body
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let signature { request.setValue(signature, forHTTPHeaderField: "X-Medic-Signature") }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    @Test("intake over HTTP: 202 with decisions after recording, the run happens; 401, 400 and 413 otherwise")
    func intake() async throws {
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("medic-intake-\(UUID())").path
        let audit = InMemoryAuditLog()
        let alert = Data(#"{"alerts":[{"status":"firing","labels":{"alertname":"Down","instance":"db1"}}]}"#.utf8)
        try await Self.withServer(
            audit: audit, marker: marker, settings: .init(maxBodyBytes: 4096, intakeToken: "s3cret")
        ) { base in
            let url = base.appendingPathComponent("v1/alerts/alertmanager")
            let (unauthorized, _) = try await Self.post(url, alert)
            #expect(unauthorized == 401)
            let (wrong, _) = try await Self.post(url, alert, token: "nope")
            #expect(wrong == 401)
            let (malformed, reason) = try await Self.post(
                url, Data(#"{"alerts":[{"labels":7}]}"#.utf8), token: "s3cret")
            #expect(malformed == 400)
            #expect(reason.contains("$.alerts[0].labels"))
            let (large, _) = try await Self.post(url, Data(repeating: 0x20, count: 10_000), token: "s3cret")
            #expect(large == 413)
            let (accepted, answer) = try await Self.post(url, alert, token: "s3cret")
            #expect(accepted == 202)
            #expect(answer.contains("\"decision\": \"run\""))
            // The decision is committed before the answer.
            #expect(await audit.events.contains { $0.kind == .decisionRun })
            for _ in 0..<200 where !FileManager.default.fileExists(atPath: marker) {
                try await Task.sleep(for: .milliseconds(25))
            }
            let (health, _) = try await Self.post(base.appendingPathComponent("v1/runs/nope/approve"), Data())
            #expect(health == 404)
        }
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "fixed db1\n")
    }

    actor BrokenLog: AuditLog {
        func append(_ event: AuditEvent) async throws { throw CocoaError(.fileWriteOutOfSpace) }
    }

    @Test("when the audit log cannot record, intake answers 503 with Retry-After and nothing runs")
    func unwritable() async throws {
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("medic-intake-\(UUID())").path
        try await Self.withServer(audit: BrokenLog(), marker: marker, settings: .init()) { base in
            var request = URLRequest(url: base.appendingPathComponent("v1/alerts"))
            request.httpMethod = "POST"
            request.httpBody = Data(#"{"labels":{"alertname":"Down","instance":"db1"}}"#.utf8)
            let (_, response) = try await URLSession.shared.data(for: request)
            let http = try #require(response as? HTTPURLResponse)
            #expect(http.statusCode == 503)
            #expect(http.value(forHTTPHeaderField: "Retry-After") == "5")
        }
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test("a body signature authenticates intake as well as the bearer token; a wrong one does not")
    func signatures() async throws {
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("medic-intake-\(UUID())").path
        let alert = Data(#"{"labels":{"alertname":"Down","instance":"db1"}}"#.utf8)
        let settings = IntakeServer.Settings(
            intakeToken: "tok", signatureVerifier: { body, header in header == "sha256=\(body.count)" })
        try await Self.withServer(audit: InMemoryAuditLog(), marker: marker, settings: settings) { base in
            let url = base.appendingPathComponent("v1/alerts")
            let signed = try await Self.post(url, alert, signature: "sha256=\(alert.count)").0
            let forged = try await Self.post(url, alert, signature: "sha256=0").0
            let anonymous = try await Self.post(url, alert).0
            let bearer = try await Self.post(url, alert, token: "tok").0
            #expect(signed == 202)
            #expect(forged == 401)
            #expect(anonymous == 401)
            #expect(bearer == 202)
        }
    }
}
