import Foundation
import Logging
import MedicCore
import MedicExecution

/// `medic serve`'s settings, resolved from its flags and its config file: a flag wins over the file, the file
/// over the default. Every bad value is reported at once, each naming where it came from (the flag, or the key
/// in the file); secrets are read from their files or environment variables here.
public struct ServeSettings: Sendable {
    /// The settings as the command line gives them: the same fields as the file, nil where a flag is not given
    /// (the two switches are `true` or nil, so that an absent flag leaves the file's value).
    public typealias Flags = ServeConfiguration

    public var host: String
    public var port: Int
    public var runbooks: String
    /// nil: the audit log's own default (`$MEDIC_AUDIT`, else `.medic/audit.db`).
    public var audit: String?
    public var shadow: Bool
    public var maxBodyBytes: Int
    public var maxConcurrentRuns: Int
    public var maxQueuedRuns: Int
    public var insecureNoAuth: Bool
    public var logLevel: Logger.Level
    public var logFormat: MedicLogHandler.Format
    public var shutdownGrace: Duration
    /// How long an alert's dedup entry outlives its last arrival (`PolicyGate.Configuration.dedupWindow`).
    public var dedupWindow: Duration
    public var intakeToken: String?
    public var apiToken: String?
    public var hmacSecret: String?
    /// The environment variables that hold Medic's own secrets: hidden from every runbook.
    public var secretVariables: Set<String>
    /// `ssh -F` for remote targets; nil reads the user's own ssh configuration.
    public var sshConfig: String?
    /// Alertmanager's base URL (`--alertmanager-url`, `alertmanager.url`) and the bearer token for it.
    public var alertmanagerURL: URL?
    public var alertmanagerToken: String?
    /// This replica's name on what it appends to a shared store (`--replica-id`, `replica_id`; default host:pid).
    public var replicaID: String?
    /// A replica's lease on a shared store (`--lease`, `lease`; default 15 s, at least 3 s).
    public var lease: Duration = .seconds(15)

    /// Resolves `flags` over the file at `config` (if any); `environment` supplies `--*-env` secrets.
    public static func resolve(
        flags: Flags, config: String?, environment: [String: String]
    ) -> Result<ServeSettings, ServeConfiguration.ProblemList> {
        var problems: [String] = []
        var file = ServeConfiguration()
        if let config {
            let read = ServeConfiguration.read(path: config)
            file = read.configuration
            problems += read.problems
        }
        // Where a value came from: the flag, or the key in the config file (defaults are never wrong).
        func origin<Value>(_ flag: Value?, _ key: String) -> String {
            if flag == nil, let config { return "\(key) in \(config)" }
            return "--" + key.replacingOccurrences(of: "_", with: "-")
        }
        func positive(_ flag: Int?, _ fromFile: Int?, _ key: String, default value: Int) -> Int {
            guard let given = flag ?? fromFile else { return value }
            guard given > 0 else {
                problems.append(Message.notPositive(origin(flag, key), given))
                return value
            }
            return given
        }
        let listen = flags.listen ?? file.listen ?? "127.0.0.1:9095"
        var host = "127.0.0.1"
        var port = 9095
        if let colon = listen.lastIndex(of: ":"), let number = Int(listen[listen.index(after: colon)...]) {
            host = String(listen[..<colon])
            port = number
        } else {
            problems.append(Message.listen(origin(flags.listen, "listen"), listen))
        }
        let replicaID = flags.replicaID ?? file.replicaID
        if let replicaID, replicaID.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
            || replicaID == "medic:sweeper" || replicaID == "import"
        {
            problems.append(
                "\(origin(flags.replicaID, "replica_id")): expected a name for this replica such as medic-a, got '\(replicaID)' (empty and the reserved names medic:sweeper and import are refused)"
            )
        }
        let leaseText = flags.lease ?? file.lease ?? "15s"
        let lease = Duration(dsl: leaseText)
        if lease == nil || lease! < .seconds(3) {
            problems.append("\(origin(flags.lease, "lease")): expected a duration of at least 3s such as 15s, got '\(leaseText)'")
        }
        let levelText = flags.logLevel ?? file.logLevel ?? "info"
        let level = Logger.Level(rawValue: levelText)
        if level == nil { problems.append(Message.logLevel(origin(flags.logLevel, "log_level"), levelText)) }
        let formatText = flags.logFormat ?? file.logFormat ?? "auto"
        let format = MedicLogHandler.Format(rawValue: formatText)
        if format == nil { problems.append(Message.logFormat(origin(flags.logFormat, "log_format"), formatText)) }
        let graceText = flags.shutdownGrace ?? file.shutdownGrace ?? "30s"
        let grace = Duration(dsl: graceText)
        if grace == nil {
            problems.append(Message.shutdownGrace(origin(flags.shutdownGrace, "shutdown_grace"), graceText))
        }
        let dedupText = flags.dedupWindow ?? file.dedupWindow ?? "24h"
        let dedupWindow = Duration(dsl: dedupText).flatMap { $0 > .zero ? $0 : nil }
        if dedupWindow == nil {
            problems.append(Message.dedupWindow(origin(flags.dedupWindow, "dedup_window"), dedupText))
        }
        let maxBody = positive(flags.maxBody, file.maxBody, "max_body", default: 1 << 20)
        let maxConcurrentRuns = positive(
            flags.maxConcurrentRuns, file.maxConcurrentRuns, "max_concurrent_runs", default: 8)
        let maxQueuedRuns = positive(flags.maxQueuedRuns, file.maxQueuedRuns, "max_queued_runs", default: 256)

        let variables = [
            flags.intakeTokenEnv ?? file.intakeTokenEnv, flags.apiTokenEnv ?? file.apiTokenEnv,
            flags.hmacSecretEnv ?? file.hmacSecretEnv,
        ]
        func secret(_ option: String, file path: String?, variable: String?) -> String? {
            switch Self.secret(option, file: path, variable: variable, environment: environment) {
            case .success(let secret): return secret
            case .failure(let problem):
                problems.append(problem.messages[0])
                return nil
            }
        }
        let intakeToken = secret(
            "intake-token", file: flags.intakeTokenFile ?? file.intakeTokenFile, variable: variables[0])
        let apiToken = secret("api-token", file: flags.apiTokenFile ?? file.apiTokenFile, variable: variables[1])
        let hmacSecret = secret(
            "hmac-secret", file: flags.hmacSecretFile ?? file.hmacSecretFile, variable: variables[2])
        let insecureNoAuth = flags.insecureNoAuth ?? file.insecureNoAuth ?? false
        let loopback = host == "127.0.0.1" || host == "localhost" || host == "::1" || host.hasPrefix("127.")
        if !loopback, intakeToken == nil && hmacSecret == nil || apiToken == nil, !insecureNoAuth {
            problems.append(Message.refusingOpenListener(host))
        }
        let sshConfig = flags.sshConfig ?? file.sshConfig
        if let sshConfig, let problem = SSHSettings.configProblem(sshConfig) {
            problems.append("ssh_config: \(problem)")
        }
        var alertmanagerURL: URL?
        if let text = flags.alertmanagerURL ?? file.alertmanagerURL {
            let where_ = flags.alertmanagerURL != nil ? "--alertmanager-url" : "alertmanager.url in \(config ?? "")"
            if let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil {
                alertmanagerURL = url
            } else {
                problems.append("\(where_): expected an http:// or https:// URL such as http://alertmanager:9093, got '\(text)'")
            }
        }
        let alertmanagerToken = secret(
            "alertmanager-token", file: flags.alertmanagerTokenFile ?? file.alertmanagerTokenFile, variable: nil)
        guard problems.isEmpty, let level, let format, let grace, let dedupWindow else {
            return .failure(ServeConfiguration.ProblemList(messages: problems))
        }
        return .success(
            ServeSettings(
                host: host, port: port, runbooks: flags.runbooks ?? file.runbooks ?? "runbooks",
                audit: flags.audit ?? file.audit, shadow: flags.shadow ?? file.shadow ?? false,
                maxBodyBytes: maxBody, maxConcurrentRuns: maxConcurrentRuns, maxQueuedRuns: maxQueuedRuns,
                insecureNoAuth: insecureNoAuth, logLevel: level, logFormat: format, shutdownGrace: grace,
                dedupWindow: dedupWindow, intakeToken: intakeToken, apiToken: apiToken, hmacSecret: hmacSecret,
                secretVariables: Set(variables.compactMap { $0 }), sshConfig: sshConfig,
                alertmanagerURL: alertmanagerURL, alertmanagerToken: alertmanagerToken,
                replicaID: replicaID, lease: lease ?? .seconds(15)))
    }

    /// A secret comes from a file or from an environment variable, never both and never from the config text.
    /// Surrounding whitespace (the newline `echo` leaves) is not part of it.
    public static func secret(
        _ option: String, file: String?, variable: String?, environment: [String: String]
    ) -> Result<String?, ServeConfiguration.ProblemList> {
        func problem(_ message: String) -> Result<String?, ServeConfiguration.ProblemList> {
            .failure(ServeConfiguration.ProblemList(messages: [message]))
        }
        switch (file, variable) {
        case (nil, nil):
            return .success(nil)
        case (.some, .some):
            return problem("give --\(option)-file or --\(option)-env, not both")
        case (let path?, nil):
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                return problem("--\(option)-file: cannot read \(path)")
            }
            let secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
            return secret.isEmpty ? problem("--\(option)-file: \(path) is empty") : .success(secret)
        case (nil, let name?):
            guard let value = environment[name] else {
                return problem("--\(option)-env: the environment variable \(name) is not set")
            }
            let secret = value.trimmingCharacters(in: .whitespacesAndNewlines)
            return secret.isEmpty ? problem("--\(option)-env: \(name) is empty") : .success(secret)
        }
    }

    enum Message {
        static func listen(_ origin: String, _ text: String) -> String {
            "\(origin) takes HOST:PORT, got '\(text)'"
        }

        static func logLevel(_ origin: String, _ text: String) -> String {
            "\(origin) takes \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'"
        }

        static func logFormat(_ origin: String, _ text: String) -> String {
            "\(origin) takes auto, json or text, got '\(text)'"
        }

        static func shutdownGrace(_ origin: String, _ text: String) -> String {
            "\(origin) takes a duration such as 30s or 2m, got '\(text)'"
        }

        static func dedupWindow(_ origin: String, _ text: String) -> String {
            "\(origin) takes a duration above zero such as 24h, got '\(text)'"
        }

        static func notPositive(_ origin: String, _ value: Int) -> String {
            "\(origin) must be a positive whole number, got '\(value)'"
        }

        static func refusingOpenListener(_ host: String) -> String {
            "refusing to listen on \(host) without an intake token (or HMAC secret) and an API token, from --*-file"
                + " or --*-env (or --insecure-no-auth)"
        }
    }
}
