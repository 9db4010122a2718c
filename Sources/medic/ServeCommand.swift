import ArgumentParser
import Foundation
import Hummingbird
import Logging
import MedicCore
import MedicExecution
import MedicServer
import MedicStore
import ServiceLifecycle

/// `medic serve`: the webhook server that matches alerts to runbooks and runs them under the safety policies.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the webhook server: Alertmanager, Grafana and plain JSON alerts in, audited runs out.",
        discussion: """
            Endpoints: POST /v1/alerts/alertmanager, /v1/alerts/grafana, /v1/alerts (202 with decisions once \
            recorded; 400 malformed; 413 too large; 401 without the intake token; 503 when the audit log cannot \
            record), GET /v1/runs and /v1/runs/{id}, POST /v1/runs/{id}/approve and /cancel (API token), \
            POST /-/reload, GET /healthz, /readyz and /metrics (Prometheus). Logs go to stderr as JSON lines \
            unless stderr is a terminal. See docs/operations.md.
            """
    )

    @Option(help: "A YAML file of settings (keys as the flags, with underscores); flags override it.")
    var config: String?
    @Option(help: "Address to listen on, HOST:PORT (default 127.0.0.1:9095).") var listen: String?
    @Option(help: "Runbook directory (default runbooks).") var runbooks: String?
    @OptionGroup var location: AuditLocation
    @Flag(help: "Global shadow mode: match, plan and audit everything, execute nothing.") var shadow = false
    @Option(help: "File holding the bearer token for alert intake.") var intakeTokenFile: String?
    @Option(help: "File holding the bearer token for the run API.") var apiTokenFile: String?
    @Option(help: "File holding the secret for HMAC-SHA256 body signatures (X-Medic-Signature: sha256=<hex>).")
    var hmacSecretFile: String?
    @Option(help: "Environment variable holding the intake bearer token (instead of --intake-token-file).")
    var intakeTokenEnv: String?
    @Option(help: "Environment variable holding the run API bearer token (instead of --api-token-file).")
    var apiTokenEnv: String?
    @Option(help: "Environment variable holding the HMAC secret (instead of --hmac-secret-file).")
    var hmacSecretEnv: String?
    @Option(help: "Largest accepted request body, in bytes (default 1048576).") var maxBody: Int?
    @Option(help: "Most runs executing at once (default 8).") var maxConcurrentRuns: Int?
    @Flag(help: "Allow listening on a non-loopback address without tokens.") var insecureNoAuth = false
    @Option(help: "Least important log level shown: trace, debug, info, notice, warning, error (default info).")
    var logLevel: String?
    @Option(help: "Log lines as json or text; auto (the default) is json unless stderr is a terminal.")
    var logFormat: String?
    @Option(help: "On SIGTERM, how long running runs may go on before they are stopped and rolled back (default 30s).")
    var shutdownGrace: String?

    /// A secret comes from a file or from an environment variable, never both and never from the config text.
    /// Surrounding whitespace (the newline `echo` leaves) is not part of it.
    static func secret(
        _ option: String, file: String?, variable: String?, environment: [String: String]
    ) throws -> String? {
        switch (file, variable) {
        case (nil, nil):
            return nil
        case (.some, .some):
            throw ValidationError("give --\(option)-file or --\(option)-env, not both")
        case (let path?, nil):
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ValidationError("--\(option)-file: cannot read \(path)")
            }
            let secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !secret.isEmpty else { throw ValidationError("--\(option)-file: \(path) is empty") }
            return secret
        case (nil, let name?):
            guard let value = environment[name] else {
                throw ValidationError("--\(option)-env: the environment variable \(name) is not set")
            }
            let secret = value.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !secret.isEmpty else { throw ValidationError("--\(option)-env: \(name) is empty") }
            return secret
        }
    }

    func run() async throws {
        // A full disk or a file size limit must fail the write (and answer 503), not kill the server.
        signal(SIGXFSZ, SIG_IGN)
        var file = ServeConfiguration()
        if let config {
            switch ServeConfiguration.load(path: config) {
            case .success(let loaded): file = loaded
            case .failure(let problems): throw ValidationError(problems.description)
            }
        }
        let listen = self.listen ?? file.listen ?? "127.0.0.1:9095"
        let runbooks = self.runbooks ?? file.runbooks ?? "runbooks"
        var configured = self.location
        configured.audit = configured.audit ?? file.audit
        let location = configured
        let shadow = self.shadow || (file.shadow ?? false)
        let intakeTokenFile = self.intakeTokenFile ?? file.intakeTokenFile
        let apiTokenFile = self.apiTokenFile ?? file.apiTokenFile
        let hmacSecretFile = self.hmacSecretFile ?? file.hmacSecretFile
        let maxBody = self.maxBody ?? file.maxBody ?? 1 << 20
        let maxConcurrentRuns = self.maxConcurrentRuns ?? file.maxConcurrentRuns ?? 8
        let insecureNoAuth = self.insecureNoAuth || (file.insecureNoAuth ?? false)
        // Says where a bad value came from: the flag, or the key in the config file.
        func origin(_ flag: String?, _ key: String) -> String {
            flag == nil && config != nil ? "\(key) in \(config!)" : "--\(key.replacingOccurrences(of: "_", with: "-"))"
        }
        let levelText = self.logLevel ?? file.logLevel ?? "info"
        guard let level = Logger.Level(rawValue: levelText) else {
            throw ValidationError(
                "\(origin(self.logLevel, "log_level")) takes \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), got '\(levelText)'"
            )
        }
        let formatText = self.logFormat ?? file.logFormat ?? "auto"
        guard let format = MedicLogHandler.Format(rawValue: formatText) else {
            throw ValidationError(
                "\(origin(self.logFormat, "log_format")) takes auto, json or text, got '\(formatText)'")
        }
        LoggingSystem.bootstrap { label in MedicLogHandler(label: label, level: level, format: format) }
        let logger = Logger(label: "medic")
        let graceText = self.shutdownGrace ?? file.shutdownGrace ?? "30s"
        guard let shutdownGrace = Duration(dsl: graceText) else {
            throw ValidationError("--shutdown-grace takes a duration such as 30s or 2m, got '\(graceText)'")
        }
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            throw ValidationError("--listen takes HOST:PORT, got '\(listen)'")
        }
        let host = String(listen[..<colon])
        let secretVariables = [
            self.intakeTokenEnv ?? file.intakeTokenEnv, self.apiTokenEnv ?? file.apiTokenEnv,
            self.hmacSecretEnv ?? file.hmacSecretEnv,
        ]
        let ownEnvironment = ProcessInfo.processInfo.environment
        let intakeToken = try Self.secret(
            "intake-token", file: intakeTokenFile, variable: secretVariables[0], environment: ownEnvironment)
        let apiToken = try Self.secret(
            "api-token", file: apiTokenFile, variable: secretVariables[1], environment: ownEnvironment)
        let hmacSecret = try Self.secret(
            "hmac-secret", file: hmacSecretFile, variable: secretVariables[2], environment: ownEnvironment)
        // Medic's own secrets never reach a runbook, neither through `from: env.*` nor through `inherit_env`.
        let hidden = Set(secretVariables.compactMap { $0 })
        let stepEnvironment = ownEnvironment.filter { !hidden.contains($0.key) }
        let loopback = host == "127.0.0.1" || host == "localhost" || host == "::1" || host.hasPrefix("127.")
        if !loopback, intakeToken == nil && hmacSecret == nil || apiToken == nil, !insecureNoAuth {
            throw ValidationError(
                "refusing to listen on \(host) without an intake token (or HMAC secret) and an API token, from --*-file or --*-env (or --insecure-no-auth)"
            )
        }
        try await Self.reporting {
            let (initial, errors) = try Self.loadRunbooks(runbooks)
            if !errors.isEmpty {
                for diagnostic in errors {
                    logger.error(
                        "\(DiagnosticRenderer.text(diagnostic, sourceMap: nil).trimmingCharacters(in: .newlines))")
                }
                throw CommandFailure("runbooks in \(runbooks) have errors; fix them (medic validate \(runbooks))")
            }
            let audit = try await location.open(create: true, writer: .background)
            let metrics = ServerMetrics()
            metrics.runbooksLoaded(initial.count)
            let narrator = AuditEventLogger(logger: logger)
            let observed = ObservedAuditLog(audit, observers: [metrics.observe, narrator.log])
            // Runs a dead Medic left behind whose runbook says `on_interrupt: rollback` are undone before any new
            // alert is taken, so nothing new acts on a target that is still half-changed.
            let recovery = InterruptedRunRecovery(
                executor: Executor(audit: observed, initiator: "recovery"), runbooks: initial,
                environment: stepEnvironment)
            for runID in try audit.markInterruptedRuns(recovering: true).recovering {
                logger.warning(
                    "rolling back a run left unfinished by a stopped medic", metadata: ["run.id": "\(runID)"])
                try await recovery.recover(runID, records: try audit.records(run: runID))
            }
            let configuration = Dispatcher.Configuration(
                maxConcurrentRuns: maxConcurrentRuns, globalShadow: shadow, shutdownGrace: shutdownGrace)
            let history = try audit.policyHistory(
                since: Dispatcher.replayCutoff(configuration: configuration, runbooks: initial, now: Date()))
            let dispatcher = Dispatcher(
                runbooks: initial, audit: observed, history: history, configuration: configuration,
                environment: stepEnvironment,
                trouble: { trouble in
                    metrics.trouble(trouble)
                    logger.error("\(trouble)")
                })
            // Parsing and indexing a large set leaves freed memory in malloc's arenas; give it back.
            Self.returnFreedMemory()
            let directory = runbooks
            let reload: @Sendable () async -> IntakeServer.ReloadResult = {
                guard let (reloaded, errors) = try? Self.loadRunbooks(directory) else {
                    logger.error("reload rejected: \(directory) cannot be read; keeping the loaded runbooks")
                    metrics.reloaded(succeeded: false)
                    return .rejected(diagnostics: ["\(directory) cannot be read"])
                }
                guard errors.isEmpty else {
                    let lines = errors.map {
                        "\($0.file ?? directory):\($0.location?.line ?? 1):\($0.location?.column ?? 1): \($0.text) [\($0.id)]"
                    }
                    logger.error(
                        "reload rejected, keeping the loaded runbooks",
                        metadata: ["diagnostics": .array(lines.map { .string($0) })])
                    metrics.reloaded(succeeded: false)
                    return .rejected(diagnostics: lines)
                }
                await dispatcher.replaceRunbooks(reloaded)
                Self.returnFreedMemory()
                metrics.runbooksLoaded(reloaded.count)
                metrics.reloaded(succeeded: true)
                logger.info("reloaded \(reloaded.count) runbooks from \(directory)")
                return .loaded(runbooks: reloaded.count)
            }
            let server = IntakeServer(
                dispatcher: dispatcher,
                settings: .init(
                    maxBodyBytes: maxBody, intakeToken: intakeToken, apiToken: apiToken,
                    signatureVerifier: hmacSecret.map { secret in
                        let signature = BodySignature(secret: secret)
                        return { body, header in signature.verify(body: body, header: header) }
                    }),
                digest: { Digest.sha256($0) },
                ready: { (try? audit.head()) != nil || (try? audit.count()) == 0 },
                reload: reload,
                listRuns: { query in
                    let known: Set = ["since", "until", "runbook", "outcome", "alertname", "initiator", "limit"]
                    if let unknown = query.keys.sorted().first(where: { !known.contains($0) }) {
                        throw ValidationError(
                            "unknown filter '\(unknown)'; use \(known.sorted().joined(separator: ", "))")
                    }
                    var limit = 50
                    if let text = query["limit"] {
                        guard let value = Int(text), value > 0 else {
                            throw ValidationError("limit must be a positive whole number, got '\(text)'")
                        }
                        limit = value
                    }
                    let filter = SQLiteAuditLog.RunFilter(
                        since: try query["since"].map { try TimeArgument.parse($0) },
                        until: try query["until"].map { try TimeArgument.parse($0) }, runbook: query["runbook"],
                        outcome: query["outcome"], alertname: query["alertname"], initiator: query["initiator"],
                        limit: limit)
                    return .array(try audit.runs(filter).map(\.json))
                },
                showRun: { runID in
                    let records = try audit.records(run: runID)
                    guard !records.isEmpty else { return nil }
                    let summary = try audit.run(id: runID)
                    return [
                        "run": summary?.json ?? .null,
                        "timeline": .array(
                            records.map { record in
                                [
                                    "seq": JSONValue(Int(record.seq)), "time": .string(record.time),
                                    "kind": .string(record.kind),
                                    "body": .raw(record.body),
                                ]
                            }),
                    ]
                },
                metrics: metrics)
            let runbookCount = initial.count
            let app = Application(
                router: server.router(),
                configuration: .init(address: .hostname(host, port: port), serverName: "medic"),
                onServerRunning: { channel in
                    let bound = channel.localAddress?.port.map(String.init) ?? String(port)
                    logger.info(
                        "listening on \(host):\(bound) with \(runbookCount) runbooks; audit \(location.path)\(shadow ? "; shadow mode" : "")"
                    )
                },
                logger: logger)
            // Graceful shutdown goes through the services in reverse order: the HTTP server stops taking alerts
            // first, then the dispatcher gives running runs their grace period and stops them, recording it all.
            let group = ServiceGroup(
                configuration: .init(
                    services: [
                        .init(service: DispatcherService(dispatcher: dispatcher)),
                        .init(
                            service: ReloadOnHangupService(reload: { _ = await reload() }),
                            successTerminationBehavior: .ignore),
                        .init(service: app, successTerminationBehavior: .ignore),
                    ],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: app.logger))
            try await group.run()
        }
    }

    /// The runbook set under `directory`, or its errors. Checked in full first (every diagnostic, ids across
    /// files); then, for a server that keeps the runbooks for long, read again compactly, keeping nothing but
    /// the runbooks (see `RunbookDirectory.compactRunbooks`). Warnings are not kept.
    static func loadRunbooks(_ directory: String) throws -> (runbooks: [Runbook], errors: [Diagnostic]) {
        let (files, ids, errors) = try {
            let loaded = try RunbookDirectory().load([directory])
            let errors = loaded.diagnostics.filter { $0.severity == .error }
            return (loaded.runbookFiles, loaded.runbooks.map(\.id), errors)
        }()
        guard errors.isEmpty else { return ([], errors) }
        returnFreedMemory()
        if let compact = RunbookDirectory().compactRunbooks(files: files, expecting: ids) {
            return (compact, [])
        }
        // A file changed between the two reads: take the set as it is now, checked in full.
        let loaded = try RunbookDirectory().load([directory])
        return (loaded.runbooks, loaded.diagnostics.filter { $0.severity == .error })
    }

    /// glibc's `malloc_trim(0)`, looked up at run time (it is not in the Glibc module); a no-op elsewhere.
    static func returnFreedMemory() {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
        typealias Trim = @convention(c) (Int) -> Int32
        _ = unsafeBitCast(symbol, to: Trim.self)(0)
    }
}
