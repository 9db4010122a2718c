import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MedicCore
import MedicExecution
import MedicServer
import Testing

/// The server's routes, auth and error mapping, through HummingbirdTesting's router client (no sockets).
@Suite struct IntakeServerRoutingTests {
    /// A run history whose store is gone.
    struct BrokenHistory: RunHistory {
        struct Gone: Error, CustomStringConvertible {
            var description: String { "disk I/O error" }
        }

        func runs(matching filter: RunFilter) async throws -> [RunSummary] { throw Gone() }
        func summary(ofRun id: String) async throws -> RunSummary? { throw Gone() }
        func records(ofRun id: String) async throws -> [AuditRecord] { throw Gone() }
    }

    static let history = InMemoryRunHistory(
        summaries: [
            RunSummary(id: "run-1", runbook: "disk", startedAt: "2026-11-25T10:00:00.000Z", outcome: "succeeded"),
            RunSummary(id: "run-2", runbook: "disk", startedAt: "2026-11-25T11:00:00.000Z", outcome: "failed"),
        ],
        records: [
            AuditRecord(
                seq: 1, time: "2026-11-25T10:00:00.000Z", kind: "run.started", runID: "run-1",
                body: #"{"runbook":"disk"}"#, prevHash: AuditRecord.genesisHash, hash: "h1")
        ])

    static func server(
        settings: IntakeServer.Settings = .init(), history: any RunHistory = history, ready: Bool = true,
        metrics: ServerMetrics = ServerMetrics()
    ) -> Application<RouterResponder<BasicRequestContext>> {
        let dispatcher = Dispatcher(runbooks: [], audit: InMemoryAuditLog(), environment: [:])
        let server = IntakeServer(
            dispatcher: dispatcher, settings: settings, digest: { "digest-\($0.count)" }, ready: { ready },
            history: history, metrics: metrics)
        return Application(router: server.router())
    }

    static let alert = ByteBuffer(string: #"{"labels":{"alertname":"Down"}}"#)

    static func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

    @Test("health, readiness and metrics answer without a token")
    func openRoutes() async throws {
        try await Self.server(settings: .init(intakeToken: "i", apiToken: "a")).test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/metrics", method: .get) { #expect($0.status == .ok) }
        }
        try await Self.server(ready: false).test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .serviceUnavailable) }
        }
    }

    @Test(
        "the run API takes only the API token",
        arguments: [
            ("/v1/runs", HTTPRequest.Method.get), ("/v1/runs/run-1", .get), ("/-/reload", .post),
            ("/v1/runs/run-1/approve", .post), ("/v1/runs/run-1/cancel", .post),
        ])
    func apiNeedsItsToken(path: String, method: HTTPRequest.Method) async throws {
        try await Self.server(settings: .init(intakeToken: "intake", apiToken: "api")).test(.router) { client in
            for headers in [[:], Self.bearer("intake"), Self.bearer("api-"), [.authorization: "api"]] as [HTTPFields] {
                try await client.execute(uri: path, method: method, headers: headers) { response in
                    #expect(response.status == .unauthorized, "\(path) with \(headers)")
                    #expect(String(buffer: response.body).contains("unauthorized"))
                }
            }
            try await client.execute(uri: path, method: method, headers: Self.bearer("api")) { response in
                #expect(response.status != .unauthorized, "\(path)")
            }
        }
    }

    @Test("intake takes the intake token, not the API token; refusals are counted")
    func intakeToken() async throws {
        let metrics = ServerMetrics()
        try await Self.server(settings: .init(intakeToken: "intake", apiToken: "api"), metrics: metrics).test(.router) {
            client in
            try await client.execute(uri: "/v1/alerts", method: .post, body: Self.alert) {
                #expect($0.status == .unauthorized)
            }
            try await client.execute(uri: "/v1/alerts", method: .post, headers: Self.bearer("api"), body: Self.alert) {
                #expect($0.status == .unauthorized)
            }
            try await client.execute(
                uri: "/v1/alerts", method: .post, headers: Self.bearer("intake"), body: Self.alert
            ) { #expect($0.status == .accepted) }
        }
        let exposition = metrics.exposition()
        #expect(exposition.contains(#"medic_intake_requests_total{source="json",code="401"} 2"#), "\(exposition)")
        #expect(exposition.contains(#"medic_intake_requests_total{source="json",code="202"} 1"#), "\(exposition)")
    }

    @Test("an HMAC signature of the body authenticates intake instead of a token")
    func signature() async throws {
        let expected = "sha256=" + String(Self.alert.readableBytes)
        let settings = IntakeServer.Settings(
            intakeToken: "intake", signatureVerifier: { body, header in header == "sha256=\(body.count)" })
        let signed: @Sendable (String) -> HTTPFields = { [HTTPField.Name("X-Medic-Signature")!: $0] }
        try await Self.server(settings: settings).test(.router) { client in
            try await client.execute(
                uri: "/v1/alerts/alertmanager", method: .post, headers: signed(expected),
                body: ByteBuffer(string: #"{"alerts":[{"status":"firing","labels":{"alertname":"Down"}}]}"#)
            ) { #expect($0.status == .unauthorized, "the signature is of another body") }
            try await client.execute(uri: "/v1/alerts", method: .post, headers: signed(expected), body: Self.alert) {
                response in
                #expect(response.status == .accepted)
                let answer = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                #expect((answer?["alerts"] as? [Any])?.count == 1)
            }
            try await client.execute(uri: "/v1/alerts", method: .post, headers: signed("sha256=0"), body: Self.alert) {
                #expect($0.status == .unauthorized)
            }
        }
    }

    @Test("a signed body over the limit is 413, not 401")
    func signedTooLarge() async throws {
        let settings = IntakeServer.Settings(maxBodyBytes: 8, signatureVerifier: { _, _ in true })
        try await Self.server(settings: settings).test(.router) { client in
            try await client.execute(
                uri: "/v1/alerts", method: .post, headers: [HTTPField.Name("X-Medic-Signature")!: "sha256=1"],
                body: Self.alert
            ) { #expect($0.status == .contentTooLarge) }
        }
    }

    @Test("GET /v1/runs lists the history, filtered; a bad filter is 400")
    func listRuns() async throws {
        try await Self.server().test(.router) { client in
            try await client.execute(uri: "/v1/runs", method: .get) { response in
                #expect(response.status == .ok)
                let runs = try #require(
                    try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [[String: Any]])
                #expect(runs.map { $0["id"] as? String } == ["run-2", "run-1"])
            }
            try await client.execute(uri: "/v1/runs?outcome=failed&limit=5", method: .get) { response in
                let runs = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [[String: Any]]
                #expect(runs?.map { $0["id"] as? String } == ["run-2"])
            }
            for query in ["limit=abc", "since=yesterday", "runbok=x"] {
                try await client.execute(uri: "/v1/runs?\(query)", method: .get) { response in
                    #expect(response.status == .badRequest, "\(query)")
                    #expect(String(buffer: response.body).contains(#""error":"#))
                }
            }
        }
    }

    @Test("GET /v1/runs/{id} shows a run's summary and timeline; an unknown run is 404")
    func showRun() async throws {
        try await Self.server().test(.router) { client in
            try await client.execute(uri: "/v1/runs/run-1", method: .get) { response in
                #expect(response.status == .ok)
                let run = try #require(
                    try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
                #expect((run["run"] as? [String: Any])?["outcome"] as? String == "succeeded")
                #expect((run["timeline"] as? [[String: Any]])?.first?["kind"] as? String == "run.started")
            }
            try await client.execute(uri: "/v1/runs/nope", method: .get) { #expect($0.status == .notFound) }
        }
    }

    @Test(
        "a store that cannot be read is 503 with a message and Retry-After, never 400",
        arguments: ["/v1/runs", "/v1/runs/run-1"])
    func storeFailure(path: String) async throws {
        try await Self.server(history: BrokenHistory()).test(.router) { client in
            try await client.execute(uri: path, method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "5")
                #expect(String(buffer: response.body).contains("the audit log could not be read: disk I/O error"))
            }
            // A bad filter is still the client's mistake, whatever the store's state.
            try await client.execute(uri: "/v1/runs?limit=0", method: .get) { #expect($0.status == .badRequest) }
        }
    }

    @Test("a malformed alert is 400; a reload without a loader is 422; approving an unknown run is 404")
    func errorMapping() async throws {
        try await Self.server().test(.router) { client in
            try await client.execute(uri: "/v1/alerts", method: .post, body: ByteBuffer(string: "{")) {
                #expect($0.status == .badRequest)
            }
            try await client.execute(uri: "/-/reload", method: .post) { #expect($0.status == .unprocessableContent) }
            try await client.execute(uri: "/v1/runs/nope/approve", method: .post) { #expect($0.status == .notFound) }
        }
    }
}
