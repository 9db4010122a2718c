import Foundation
import MedicCore

/// `medic serve --config FILE`: the server's settings as a YAML file. Unknown keys are errors; secrets are
/// never in the file, only the paths of files that hold them or the names of environment variables that do.
public struct ServeConfiguration: Sendable, Equatable {
    public var listen: String?
    public var runbooks: String?
    public var audit: String?
    public var shadow: Bool?
    public var intakeTokenFile: String?
    public var apiTokenFile: String?
    public var hmacSecretFile: String?
    public var intakeTokenEnv: String?
    public var apiTokenEnv: String?
    public var hmacSecretEnv: String?
    public var maxBody: Int?
    public var maxConcurrentRuns: Int?
    public var maxQueuedRuns: Int?
    public var insecureNoAuth: Bool?
    public var shutdownGrace: String?
    public var dedupWindow: String?
    public var logLevel: String?
    public var logFormat: String?
    public var sshConfig: String?
    /// This replica's name on the records it appends to a shared (PostgreSQL) store.
    public var replicaID: String?
    /// A replica's lease on a shared store (`15s`): renewed every third of it.
    public var lease: String?
    /// `alertmanager: {url, token_file}`: Alertmanager's API, asked whether alerts still fire.
    public var alertmanagerURL: String?
    public var alertmanagerTokenFile: String?

    public init() {}

    public static let keys = [
        "listen", "runbooks", "audit", "shadow", "intake_token_file", "api_token_file", "hmac_secret_file",
        "intake_token_env",
        "api_token_env", "hmac_secret_env", "max_body",
        "max_concurrent_runs", "max_queued_runs", "insecure_no_auth", "shutdown_grace", "dedup_window", "log_level", "log_format",
        "ssh_config", "alertmanager", "replica_id", "lease",
    ]

    /// The keys of the `alertmanager` mapping.
    public static let alertmanagerKeys = ["url", "token_file"]

    /// Reads the file; every problem is reported as `file:line:col: message`.
    public static func load(path: String) -> Result<ServeConfiguration, ProblemList> {
        let (configuration, problems) = read(path: path)
        return problems.isEmpty ? .success(configuration) : .failure(ProblemList(messages: problems))
    }

    /// Reads the file: the settings that are good, and a problem for each that is not (or for the whole file).
    public static func read(path: String) -> (configuration: ServeConfiguration, problems: [String]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            return (ServeConfiguration(), ["\(path): cannot read the configuration file"])
        }
        let loaded = DocumentLoader().load(data: data)
        var problems = loaded.diagnostics.map {
            "\(path):\($0.location?.line ?? 1):\($0.location?.column ?? 1): \($0.text)"
        }
        var configuration = ServeConfiguration()
        guard let root = loaded.root else { return (configuration, problems) }
        guard let entries = root.mapping else {
            return (configuration, ["\(path): expected a mapping of settings (\(keys.joined(separator: ", ")))"])
        }
        for entry in entries {
            let at = "\(path):\(entry.key.location.line):\(entry.key.location.column)"
            guard let name = entry.name, keys.contains(name) else {
                let name = entry.name ?? "?"
                let hint = Suggestion.closest(to: name, in: keys).map { "; did you mean '\($0)'?" } ?? ""
                problems.append("\(at): unknown setting '\(name)'\(hint)")
                continue
            }
            let value = entry.value.scalar?.text ?? ""
            func integer() -> Int? {
                guard let number = Int(value), number > 0 else {
                    problems.append("\(at): '\(name)' must be a positive whole number, found '\(value)'")
                    return nil
                }
                return number
            }
            func flag() -> Bool? {
                guard let parsed = YAMLScalarKind.bool(value) else {
                    problems.append("\(at): '\(name)' must be true or false, found '\(value)'")
                    return nil
                }
                return parsed
            }
            if name == "alertmanager" {
                guard let members = entry.value.mapping else {
                    problems.append("\(at): 'alertmanager' must be a mapping (\(alertmanagerKeys.joined(separator: ", ")))")
                    continue
                }
                for member in members {
                    let where_ = "\(path):\(member.key.location.line):\(member.key.location.column)"
                    let text = member.value.scalar?.text ?? ""
                    switch member.name {
                    case "url" where !text.isEmpty: configuration.alertmanagerURL = text
                    case "token_file" where !text.isEmpty: configuration.alertmanagerTokenFile = text
                    case "url", "token_file": problems.append("\(where_): 'alertmanager.\(member.name ?? "")' needs a value")
                    default:
                        let key = member.name ?? "?"
                        let hint = Suggestion.closest(to: key, in: alertmanagerKeys).map { "; did you mean '\($0)'?" } ?? ""
                        problems.append("\(where_): unknown setting 'alertmanager.\(key)'\(hint)")
                    }
                }
                continue
            }
            guard entry.value.scalar != nil, !value.isEmpty else {
                problems.append("\(at): '\(name)' needs a value")
                continue
            }
            switch name {
            case "listen": configuration.listen = value
            case "runbooks": configuration.runbooks = value
            case "ssh_config": configuration.sshConfig = value
            case "replica_id": configuration.replicaID = value
            case "lease":
                if Duration(dsl: value) == nil {
                    problems.append("\(at): 'lease' must be a duration such as 15s, found '\(value)'")
                } else {
                    configuration.lease = value
                }
            case "audit": configuration.audit = value
            case "shadow": configuration.shadow = flag()
            case "intake_token_file": configuration.intakeTokenFile = value
            case "api_token_file": configuration.apiTokenFile = value
            case "hmac_secret_file": configuration.hmacSecretFile = value
            case "intake_token_env": configuration.intakeTokenEnv = value
            case "api_token_env": configuration.apiTokenEnv = value
            case "hmac_secret_env": configuration.hmacSecretEnv = value
            case "max_body": configuration.maxBody = integer()
            case "max_concurrent_runs": configuration.maxConcurrentRuns = integer()
            case "max_queued_runs": configuration.maxQueuedRuns = integer()
            case "insecure_no_auth": configuration.insecureNoAuth = flag()
            case "log_level": configuration.logLevel = value
            case "log_format": configuration.logFormat = value
            case "shutdown_grace":
                if Duration(dsl: value) == nil {
                    problems.append("\(at): 'shutdown_grace' must be a duration such as 30s, found '\(value)'")
                } else {
                    configuration.shutdownGrace = value
                }
            case "dedup_window":
                if Duration(dsl: value).map({ $0 > .zero }) != true {
                    problems.append("\(at): 'dedup_window' must be a duration such as 24h, found '\(value)'")
                } else {
                    configuration.dedupWindow = value
                }
            default: break
            }
        }
        return (configuration, problems)
    }

    public struct ProblemList: Error, Sendable, Equatable, CustomStringConvertible {
        public var messages: [String]
        public var description: String { messages.joined(separator: "\n") }
    }
}
