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

    /// What `GET /v1/runs` and `GET /v1/runs/{id}` read (the audit store's, injected).
    public let history: any RunHistory
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
        history: any RunHistory = InMemoryRunHistory(),
        metrics: ServerMetrics = ServerMetrics(), logger: Logger = Logger(label: "medic")
    ) {
        self.logger = logger
        self.metrics = metrics
        self.reload = reload
        self.history = history
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

    /// The store could not be read: the server's trouble, not the client's; worth retrying.
    static func unreadable(_ error: any Error) -> Response {
        Self.error(.serviceUnavailable, "the audit log could not be read: \(error)", headers: [.retryAfter: "5"])
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        let dispatcher = self.dispatcher
        let settings = self.settings
        let ready = self.ready
        let digest = self.digest
        let reload = self.reload
        let history = self.history
        let metrics = self.metrics
        let logger = self.logger
        router.get("/metrics") { _, _ -> Response in
            metrics.runsWaiting(await dispatcher.waitingRuns)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: metrics.exposition())))
        }
        router.get("/healthz") { _, _ -> Response in Self.json(.ok, ["status": "ok"]) }
        router.get("/readyz") { _, _ -> Response in
            await ready() ? Self.json(.ok, ["status": "ready"]) : Self.error(.serviceUnavailable, "not ready")
        }
        for (path, format) in [
            ("/v1/alerts/alertmanager", AlertPayloadDecoder.Format.alertmanager), ("/v1/alerts/grafana", .grafana),
            ("/v1/alerts", .json),
        ] {
            router.group(RouterPath(path))
                .add(middleware: IntakeAnswerMiddleware(source: format.rawValue, metrics: metrics, logger: logger))
                .add(
                    middleware: BearerAuthMiddleware(
                        token: settings.intakeToken,
                        signature: settings.signatureVerifier.map {
                            .init(maxBodyBytes: settings.maxBodyBytes, verify: $0)
                        }, logger: logger)
                )
                .post { request, _ -> Response in
                    try await Self.intake(
                        request, format: format, settings: settings, dispatcher: dispatcher, digest: digest,
                        logger: logger)
                }
        }
        let api = router.group().add(middleware: BearerAuthMiddleware(token: settings.apiToken))
        api.get("/v1/runs") { request, _ -> Response in
            var query: [String: String] = [:]
            for (name, value) in request.uri.queryParameters { query[String(name)] = String(value) }
            let filter: RunFilter
            switch RunQuery.filter(query) {
            case .success(let parsed): filter = parsed
            case .failure(let problems): return Self.error(.badRequest, problems.description)
            }
            do {
                return Self.json(.ok, .array(try await history.runs(matching: filter).map(\.json)))
            } catch {
                return Self.unreadable(error)
            }
        }
        api.get("/v1/runs/:id") { _, context -> Response in
            let runID = try context.parameters.require("id")
            let records: [AuditRecord]
            let summary: RunSummary?
            do {
                records = try await history.records(ofRun: runID)
                summary = records.isEmpty ? nil : try await history.summary(ofRun: runID)
            } catch {
                return Self.unreadable(error)
            }
            guard !records.isEmpty else { return Self.error(.notFound, "no run \(runID)") }
            return Self.json(.ok, Self.json(summary, timeline: records))
        }
        api.post("/-/reload") { _, _ -> Response in
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
        for action in ["approve", "cancel"] {
            api.post("/v1/runs/:id/\(action)") { _, context -> Response in
                let runID = try context.parameters.require("id")
                let who = "api"
                do {
                    if action == "approve" {
                        switch try await dispatcher.approve(runID, by: who) {
                        case .approved:
                            return Self.json(.accepted, ["run_id": .string(runID), "action": .string(action)])
                        case .forwarded(let replica):
                            return Self.json(
                                .accepted,
                                [
                                    "run_id": .string(runID), "action": .string(action),
                                    "forwarded_to": .string(replica),
                                ])
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
                    case .forwarded(let replica):
                        return Self.json(
                            .accepted,
                            ["run_id": .string(runID), "action": .string(action), "forwarded_to": .string(replica)])
                    case .notFound:
                        return Self.error(.notFound, "no run \(runID) that can be cancelled")
                    }
                } catch {
                    return Self.error(
                        .serviceUnavailable,
                        error is Dispatcher.ShuttingDown ? "\(error)" : "the audit log could not record it: \(error)",
                        headers: [.retryAfter: "5"])
                }
            }
        }
        return router
    }

    /// `GET /v1/runs/{id}`: the run's summary and its records in chain order, each body as stored.
    static func json(_ summary: RunSummary?, timeline records: [AuditRecord]) -> JSONValue {
        [
            "run": summary?.json ?? .null,
            "timeline": .array(
                records.map { record in
                    [
                        "seq": JSONValue(Int(record.seq)), "time": .string(record.time), "kind": .string(record.kind),
                        "body": .raw(record.body),
                    ]
                }),
        ]
    }

    /// One authenticated intake request: read at most `maxBodyBytes`, decode, record, answer.
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
        // Authenticated by `BearerAuthMiddleware`, which may already have read the body (it stays in the request).
        var reading = request
        let body = try await reading.collectBody(upTo: settings.maxBodyBytes)
        let data = Data(buffer: body)
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
                .serviceUnavailable,
                error is Dispatcher.ShuttingDown ? "\(error)" : "the audit log could not record the alert: \(error)",
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
