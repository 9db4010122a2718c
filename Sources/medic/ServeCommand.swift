import ArgumentParser
import Foundation
import Hummingbird
import Logging
import MedicCore
import MedicPostgres
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
    @Option(help: "Most runs waiting for a slot; beyond it an alert's run is suppressed as queue_full (default 256).")
    var maxQueuedRuns: Int?
    @Flag(help: "Allow listening on a non-loopback address without tokens.") var insecureNoAuth = false
    @Option(help: "Least important log level shown: trace, debug, info, notice, warning, error (default info).")
    var logLevel: String?
    @Option(help: "Log lines as json or text; auto (the default) is json unless stderr is a terminal.")
    var logFormat: String?
    @Option(help: "On SIGTERM, how long running runs may go on before they are stopped and rolled back (default 30s).")
    var shutdownGrace: String?
    @Option(
        help:
            "How long an alert stays deduplicated after it was last seen, unless it resolves (default 24h); keep it above Alertmanager's repeat_interval."
    )
    var dedupWindow: String?
    @Option(help: "ssh_config file for remote targets (ssh -F FILE); default: the user's own.")
    var sshConfig: String?
    @Option(
        help:
            "Alertmanager's base URL (http://alertmanager:9093): verifications ask its API whether an alert still fires instead of waiting for the resolved notification."
    )
    var alertmanagerURL: String?
    @Option(help: "A file holding a bearer token for --alertmanager-url.") var alertmanagerTokenFile: String?
    @Option(
        help:
            "This replica's name on what it writes to a shared PostgreSQL store (default: host:pid); replicas must differ."
    )
    var replicaID: String?
    @Option(
        help:
            "With a PostgreSQL store: this replica's lease, renewed every third of it; once it runs out another replica closes this one's runs (default 15s)."
    )
    var lease: String?

    var flags: ServeSettings.Flags {
        var flags = ServeSettings.Flags()
        flags.listen = listen
        flags.runbooks = runbooks
        flags.sshConfig = sshConfig
        flags.alertmanagerURL = alertmanagerURL
        flags.alertmanagerTokenFile = alertmanagerTokenFile
        flags.replicaID = replicaID
        flags.lease = lease
        flags.audit = location.audit
        flags.shadow = shadow ? true : nil
        flags.intakeTokenFile = intakeTokenFile
        flags.apiTokenFile = apiTokenFile
        flags.hmacSecretFile = hmacSecretFile
        flags.intakeTokenEnv = intakeTokenEnv
        flags.apiTokenEnv = apiTokenEnv
        flags.hmacSecretEnv = hmacSecretEnv
        flags.maxBody = maxBody
        flags.maxConcurrentRuns = maxConcurrentRuns
        flags.maxQueuedRuns = maxQueuedRuns
        flags.insecureNoAuth = insecureNoAuth ? true : nil
        flags.logLevel = logLevel
        flags.logFormat = logFormat
        flags.shutdownGrace = shutdownGrace
        flags.dedupWindow = dedupWindow
        return flags
    }

    func run() async throws {
        // A full disk or a file size limit must fail the write (and answer 503), not kill the server.
        signal(SIGXFSZ, SIG_IGN)
        let ownEnvironment = ProcessInfo.processInfo.environment
        let settings: ServeSettings
        switch ServeSettings.resolve(flags: flags, config: config, environment: ownEnvironment) {
        case .success(let resolved): settings = resolved
        case .failure(let problems): throw ValidationError(problems.description)
        }
        LoggingSystem.bootstrap { label in
            MedicLogHandler(label: label, level: settings.logLevel, format: settings.logFormat)
        }
        let logger = Logger(label: "medic")
        var configured = self.location
        configured.audit = settings.audit
        let location = configured
        // Medic's own secrets never reach a runbook, neither through `from: env.*` nor through `inherit_env`.
        let stepEnvironment = ownEnvironment.filter { !settings.secretVariables.contains($0.key) }
        let runbooks = settings.runbooks
        try await Self.reporting {
            let (initial, errors) = try await offload { try RunbookDirectory.servingSet(in: runbooks) }
            if !errors.isEmpty {
                for diagnostic in errors {
                    logger.error(
                        "\(DiagnosticRenderer.text(diagnostic, sourceMap: nil).trimmingCharacters(in: .newlines))")
                }
                throw CommandFailure("runbooks in \(runbooks) have errors; fix them (medic validate \(runbooks))")
            }
            let audit = try await location.open(create: true, writer: .background, replica: settings.replicaID)
            let runner = SubprocessRunner(ssh: SSHSettings(configFile: settings.sshConfig))
            let metrics = ServerMetrics()
            metrics.runbooksLoaded(initial.count)
            let narrator = AuditEventLogger(logger: logger)
            let observed = ObservedAuditLog(audit, observers: [metrics.observe, narrator.log])
            // Runs a dead Medic left behind whose runbook says `on_interrupt: rollback` are undone before any new
            // alert is taken, so nothing new acts on a target that is still half-changed.
            let recovery = InterruptedRunRecovery(
                executor: Executor(runner: runner, audit: observed, initiator: "recovery"), runbooks: initial,
                environment: stepEnvironment)
            let abandoned = try await audit.markInterruptedRuns(now: Date(), recovering: true).recovering
            for runID in abandoned {
                logger.warning(
                    "rolling back a run left unfinished by a stopped medic", metadata: ["run.id": "\(runID)"])
                try await recovery.recover(runID, records: try await audit.records(ofRun: runID))
            }
            let configuration = Dispatcher.Configuration(
                maxConcurrentRuns: settings.maxConcurrentRuns, queueCapacity: settings.maxQueuedRuns,
                globalShadow: settings.shadow, shutdownGrace: settings.shutdownGrace,
                dedupWindow: settings.dedupWindow)
            let cutoff = Dispatcher.replayCutoff(configuration: configuration, runbooks: initial, now: Date())
            // Read before the history: other replicas' records after it are taken in as they come.
            let seenThrough = try await audit.asShared?.lastSequence() ?? 0
            let history = try await audit.policyHistoryWithPendingVerifications(since: cutoff)
            let dispatcher = Dispatcher(
                runbooks: initial, audit: observed, history: history, configuration: configuration,
                environment: stepEnvironment, runner: runner,
                runRecords: { runID in try await audit.records(ofRun: runID) },
                alertmanager: settings.alertmanagerURL.map {
                    AlertmanagerClient(base: $0, token: settings.alertmanagerToken)
                }, seenThrough: seenThrough,
                trouble: { trouble in
                    metrics.trouble(trouble)
                    logger.error("\(trouble)")
                })
            FreedMemory.giveBack()
            let reloader = RunbookReloader(
                directory: runbooks, load: RunbookDirectory.servingSet(in:), dispatcher: dispatcher, metrics: metrics,
                logger: logger, replaced: FreedMemory.giveBack)
            let server = IntakeServer(
                dispatcher: dispatcher,
                settings: .init(
                    maxBodyBytes: settings.maxBodyBytes, intakeToken: settings.intakeToken,
                    apiToken: settings.apiToken,
                    signatureVerifier: settings.hmacSecret.map { secret in
                        let signature = BodySignature(secret: secret)
                        return { body, header in signature.verify(body: body, header: header) }
                    }),
                digest: { Digest.sha256($0) },
                ready: { await audit.isReachable() },
                reload: reloader.reload, history: audit, metrics: metrics)
            let (host, port, shadow) = (settings.host, settings.port, settings.shadow)
            let runbookCount = initial.count
            let app = Application(
                router: server.router(),
                configuration: .init(address: .hostname(host, port: port), serverName: "medic"),
                onServerRunning: { channel in
                    let bound = channel.localAddress?.port.map(String.init) ?? String(port)
                    logger.info(
                        "listening on \(host):\(bound) with \(runbookCount) runbooks; audit \(audit.location)\(shadow ? "; shadow mode" : "")"
                    )
                },
                logger: logger)
            // Graceful shutdown goes through the services in reverse order: the HTTP server stops taking alerts
            // first, then the dispatcher gives running runs their grace period and stops them, recording it all.
            var replicaServices: [ServiceGroupConfiguration.ServiceConfiguration] = []
            if let postgres = audit as? PostgresAuditLog {
                let token = try await postgres.register(lease: settings.lease)
                logger.info(
                    "replica \(postgres.writer) registered with fencing token \(token); lease \(settings.lease)")
                replicaServices.append(
                    .init(
                        service: ReplicaLeaseService(
                            store: postgres, lease: settings.lease, logger: logger, dispatcher: dispatcher,
                            metrics: metrics),
                        successTerminationBehavior: .ignore))
            }
            let group = ServiceGroup(
                configuration: .init(
                    services: replicaServices + [
                        .init(service: DispatcherService(dispatcher: dispatcher)),
                        .init(
                            service: ReloadOnHangupService(reload: { _ = await reloader.reload() }),
                            successTerminationBehavior: .ignore),
                        .init(service: app, successTerminationBehavior: .ignore),
                    ],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: app.logger))
            try await group.run()
            await SSHTransport.closeConnections(runner.ssh)
            await audit.close()
        }
    }
}
