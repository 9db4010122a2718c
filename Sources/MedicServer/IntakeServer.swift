import Foundation
import Hummingbird
import Logging
import MedicCore
import MedicExecution

/// The HTTP face of the engine: alert intake for the three formats, health, readiness, approve and cancel.
///
/// An alert is answered `202` with its decisions only after they are committed to the audit log; when they
/// cannot be recorded the answer is `503` with `Retry-After` (Alertmanager retries 5xx, drops 4xx).
public struct IntakeServer: Sendable {
    /// What the server needs besides the dispatcher.
    public struct Settings: Sendable {
        public var maxBodyBytes: Int
        /// Bearer token for `POST /v1/alerts*`; nil: no token required (loopback only, checked by the caller).
        public var intakeToken: String?
        /// Bearer token for the run API (`approve`, `cancel`).
        public var apiToken: String?

        /// Checks `X-Medic-Signature: sha256=<hex>` (HMAC-SHA256 of the body) for generic senders; injected so
        /// the server needs no crypto of its own. When set, a valid signature authenticates intake too.
        public var signatureVerifier: (@Sendable (Data, String) -> Bool)?

        public init(
            maxBodyBytes: Int = 1 << 20, intakeToken: String? = nil, apiToken: String? = nil,
            signatureVerifier: (@Sendable (Data, String) -> Bool)? = nil
        ) {
            self.signatureVerifier = signatureVerifier
            self.maxBodyBytes = maxBodyBytes
            self.intakeToken = intakeToken
            self.apiToken = apiToken
        }
    }

    public let dispatcher: Dispatcher
    public let settings: Settings
    /// Readiness: runbooks loaded and the audit log writable.
    public let ready: @Sendable () async -> Bool
    /// SHA-256 of a payload, for the `alert.received` record (the store's, injected).
    public let digest: @Sendable (Data) -> String
    /// Reloads the runbook directory: the count of runbooks now loaded, or the errors that kept the old set.
    public let reload: @Sendable () async -> ReloadResult

    /// `GET /v1/runs`: query parameters in, a JSON list out (the store's, injected).
    public let listRuns: @Sendable ([String: String]) async throws -> JSONValue
    /// `GET /v1/runs/{id}`: the run's records as JSON, or nil when there is no such run.
    public let showRun: @Sendable (String) async throws -> JSONValue?
    /// `GET /metrics`; the dispatcher's audit log should be an ``ObservedAuditLog`` feeding the same metrics.
    public let metrics: ServerMetrics
    /// Where refused intake requests are logged (the alerts themselves are logged from the audit records).
    public let logger: Logger

    /// The outcome of a reload.
    public enum ReloadResult: Sendable {
        case loaded(runbooks: Int)
        /// The new set had errors and was rejected whole; the old one stays.
        case rejected(diagnostics: [String])
    }

    public init(
        dispatcher: Dispatcher, settings: Settings, digest: @escaping @Sendable (Data) -> String,
        ready: @escaping @Sendable () async -> Bool = { true },
        reload: @escaping @Sendable () async -> ReloadResult = { .rejected(diagnostics: ["reload is not configured"]) },
        listRuns: @escaping @Sendable ([String: String]) async throws -> JSONValue = { _ in .array([]) },
        showRun: @escaping @Sendable (String) async throws -> JSONValue? = { _ in nil },
        metrics: ServerMetrics = ServerMetrics(), logger: Logger = Logger(label: "medic")
    ) {
        self.logger = logger
        self.metrics = metrics
        self.reload = reload
        self.listRuns = listRuns
        self.showRun = showRun
        self.dispatcher = dispatcher
        self.settings = settings
        self.digest = digest
        self.ready = ready
    }

    static func json(_ status: HTTPResponse.Status, _ value: JSONValue, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(
            status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: value.rendered() + "\n")))
    }

    static func error(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) -> Response {
        json(status, ["error": .string(message)], headers: headers)
    }

    /// Constant-time comparison of `Authorization: Bearer <token>` with the expected token.
    static func authorized(_ request: Request, token: String?) -> Bool {
        guard let token else { return true }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return false }
        let given = Array(header.dropFirst("Bearer ".count).utf8)
        let expected = Array(token.utf8)
        var difference = UInt8(given.count == expected.count ? 0 : 1)
        for index in 0..<expected.count {
            difference |= expected[index] ^ (index < given.count ? given[index] : 0)
        }
        return difference == 0
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        let dispatcher = self.dispatcher
        let settings = self.settings
        let ready = self.ready
        let digest = self.digest
        let reload = self.reload
        let listRuns = self.listRuns
        let showRun = self.showRun
        let metrics = self.metrics
        let logger = self.logger
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: metrics.exposition())))
        }
        router.get("/v1/runs") { request, _ -> Response in
            guard Self.authorized(request, token: settings.apiToken) else {
                return Self.error(.unauthorized, "unauthorized")
            }
            var query: [String: String] = [:]
            for (name, value) in request.uri.queryParameters { query[String(name)] = String(value) }
            do {
                return Self.json(.ok, try await listRuns(query))
            } catch {
                return Self.error(.badRequest, "\(error)")
            }
        }
        router.get("/v1/runs/:id") { request, context -> Response in
            guard Self.authorized(request, token: settings.apiToken) else {
                return Self.error(.unauthorized, "unauthorized")
            }
            let runID = try context.parameters.require("id")
            guard let run = try await showRun(runID) else { return Self.error(.notFound, "no run \(runID)") }
            return Self.json(.ok, run)
        }
        router.post("/-/reload") { request, _ -> Response in
            guard Self.authorized(request, token: settings.apiToken) else {
                return Self.error(.unauthorized, "unauthorized")
            }
            switch await reload() {
            case .loaded(let count):
                return Self.json(.ok, ["status": "reloaded", "runbooks": JSONValue(count)])
            case .rejected(let diagnostics):
                return Self.json(
                    .unprocessableContent,
                    [
                        "error": "the new runbook set has errors; the old one stays loaded",
                        "diagnostics": .array(diagnostics.map(JSONValue.string)),
                    ])
            }
        }
        for (path, format) in [
            ("/v1/alerts/alertmanager", AlertPayloadDecoder.Format.alertmanager), ("/v1/alerts/grafana", .grafana),
            ("/v1/alerts", .json),
        ] {
            router.post(RouterPath(path)) { request, _ -> Response in
                do {
                    let response = try await Self.intake(
                        request, format: format, settings: settings, dispatcher: dispatcher, digest: digest,
                        logger: logger)
                    metrics.intakeAnswered(source: format.rawValue, code: response.status.code)
                    return response
                } catch let error as any HTTPResponseError {
                    metrics.intakeAnswered(source: format.rawValue, code: error.status.code)
                    logger.warning(
                        "intake request refused", metadata: ["path": .string(path), "code": "\(error.status.code)"])
                    throw error
                }
            }
        }
        router.get("/healthz") { _, _ -> Response in Self.json(.ok, ["status": "ok"]) }
        router.get("/readyz") { _, _ -> Response in
            await ready() ? Self.json(.ok, ["status": "ready"]) : Self.error(.serviceUnavailable, "not ready")
        }
        for action in ["approve", "cancel"] {
            router.post("/v1/runs/:id/\(action)") { request, context -> Response in
                guard Self.authorized(request, token: settings.apiToken) else {
                    return Self.error(.unauthorized, "unauthorized")
                }
                let runID = try context.parameters.require("id")
                let who = "api"
                do {
                    if action == "approve" {
                        switch try await dispatcher.approve(runID, by: who) {
                        case .approved:
                            return Self.json(.accepted, ["run_id": .string(runID), "action": .string(action)])
                        case .notWaiting:
                            return Self.error(.notFound, "no run \(runID) that waits for approval")
                        case .queueFull(let capacity):
                            return Self.error(
                                .tooManyRequests,
                                "every run slot is busy and \(capacity) runs already wait; run \(runID) still awaits approval",
                                headers: [.retryAfter: "30"])
                        }
                    }
                    switch try await dispatcher.cancel(runID, by: who) {
                    case .cancelledWaiting, .stopRunning:
                        return Self.json(.accepted, ["run_id": .string(runID), "action": .string(action)])
                    case .notFound:
                        return Self.error(.notFound, "no run \(runID) that can be cancelled")
                    }
                } catch {
                    return Self.error(
                        .serviceUnavailable, "the audit log could not record it: \(error)", headers: [.retryAfter: "5"])
                }
            }
        }
        return router
    }

    /// One intake request: authenticate, read at most `maxBodyBytes`, decode, record, answer.
    static func intake(
        _ request: Request, format: AlertPayloadDecoder.Format, settings: Settings, dispatcher: Dispatcher,
        digest: @Sendable (Data) -> String, logger: Logger
    ) async throws -> Response {
        func refuse(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) -> Response {
            logger.log(
                level: status == .serviceUnavailable ? .error : .warning, "intake request refused",
                metadata: [
                    "path": .string(request.uri.path), "code": .stringConvertible(status.code),
                    "reason": .string(message),
                ])
            return Self.error(status, message, headers: headers)
        }
        let bearer = settings.intakeToken != nil && Self.authorized(request, token: settings.intakeToken)
        let open = settings.intakeToken == nil && settings.signatureVerifier == nil
        let signature = request.headers.first { $0.name.canonicalName == "x-medic-signature" }?.value
        guard open || bearer || (settings.signatureVerifier != nil && signature != nil) else {
            return refuse(.unauthorized, "unauthorized")
        }
        var reading = request
        let body = try await reading.collectBody(upTo: settings.maxBodyBytes)
        let data = Data(buffer: body)
        if !open, !bearer {
            guard let verify = settings.signatureVerifier, let signature, verify(data, signature) else {
                return refuse(.unauthorized, "unauthorized")
            }
        }
        let alerts: [Alert]
        do {
            alerts = try AlertPayloadDecoder.decode(data, format: format)
        } catch {
            return refuse(.badRequest, error.description)
        }
        do {
            let outcomes = try await dispatcher.receive(alerts, payloadDigest: digest(data))
            return Self.json(.accepted, ["alerts": .array(outcomes.map(Self.json))])
        } catch {
            return refuse(
                .serviceUnavailable, "the audit log could not record the alert: \(error)",
                headers: [.retryAfter: "5"])
        }
    }

    static func json(_ outcome: Dispatcher.AlertOutcome) -> JSONValue {
        [
            "fingerprint": .string(outcome.fingerprint), "status": .string(outcome.status),
            "decisions": .array(
                outcome.decisions.map { decision in
                    [
                        "runbook": .string(decision.runbook), "decision": .string(decision.decision),
                        "run_id": JSONValue(decision.runID), "reason": JSONValue(decision.reason),
                        "reason_code": JSONValue(decision.reasonCode),
                    ]
                }),
        ]
    }
}
