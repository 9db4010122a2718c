import Foundation

/// Resolves a runbook's params for one run: `--param` values first, then the alert (`from: alert.*`), then the
/// environment (`from: env.*`), then the default; every value is checked against the param's rules.
public enum ParamResolver {
    /// Why a run cannot start: which param, and which rule its value broke.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public var param: String
        public var message: String
        public var description: String { "param '\(param)': \(message)" }
    }

    /// Every problem that stops a run from starting.
    public struct Problems: Error, Sendable, Equatable {
        public var items: [Problem]
    }

    /// Where a resolved value came from, for the audit log and `medic plan`.
    public enum Origin: Sendable, Equatable, CustomStringConvertible {
        case caller, alert(ParamSource), environment(String), defaultValue

        public var description: String {
            switch self {
            case .caller: "--param"
            case .alert(let source): source.description
            case .environment(let name): "env.\(name)"
            case .defaultValue: "default"
            }
        }
    }

    public struct Resolved: Sendable, Equatable {
        public var values: [String: ParamValue]
        public var origins: [String: Origin]
        /// Text of every secret value, for redaction.
        public var secrets: [String]
    }

    public static func resolve(
        _ runbook: Runbook, given: [String: String], alert: Alert?, environment: [String: String]
    ) -> Result<Resolved, Problems> {
        var problems: [Problem] = []
        for name in given.keys.sorted() where runbook.param(named: name) == nil {
            let hint =
                Suggestion.closest(to: name, in: runbook.params.map(\.name)).map { "; did you mean '\($0)'?" } ?? ""
            problems.append(Problem(param: name, message: "runbook '\(runbook.id)' has no such param\(hint)"))
        }
        var values: [String: ParamValue] = [:]
        var origins: [String: Origin] = [:]
        var secrets: [String] = []
        for param in runbook.params {
            var text: String?
            var origin: Origin?
            if let value = given[param.name] {
                (text, origin) = (value, .caller)
            } else if let source = param.source {
                switch source {
                case .alertLabel(let label):
                    if let value = alert?.labels.value(forExactKey: label), !value.isEmpty {
                        (text, origin) = (value, .alert(source))
                    }
                case .alertAnnotation(let name):
                    if let value = alert?.annotations.value(forExactKey: name), !value.isEmpty {
                        (text, origin) = (value, .alert(source))
                    }
                case .alertFingerprint:
                    if let value = alert?.fingerprint { (text, origin) = (value, .alert(source)) }
                case .environment(let name):
                    if let value = environment[name], !value.isEmpty { (text, origin) = (value, .environment(name)) }
                }
            }
            let value: ParamValue
            if var text, let origin {
                if let extract = param.extract {
                    // Validation compiled it; the value must match it whole, and becomes what group 1 took.
                    guard let regex = try? GoRegex.alertmanager(extract), let slots = regex.firstMatch(in: text),
                        slots.count >= 4, slots[2] >= 0
                    else {
                        problems.append(
                            Problem(
                                param: param.name,
                                message: "\(shown(text, param)) from \(origin) does not match extract '\(extract)'"))
                        continue
                    }
                    let bytes = Array(text.utf8)
                    text = String(decoding: bytes[slots[2]..<slots[3]], as: UTF8.self)
                }
                guard let parsed = ParamValue.parse(text, as: param.type) else {
                    problems.append(
                        Problem(
                            param: param.name,
                            message: "\(shown(text, param)) from \(origin) is not a valid \(param.type.rawValue)"))
                    continue
                }
                value = parsed
                origins[param.name] = origin
            } else if let fallback = param.defaultValue {
                value = fallback
                origins[param.name] = .defaultValue
            } else {
                let hint: String
                switch param.source {
                case .some(.environment(let name)): hint = " (environment variable \(name) is not set)"
                case .some(let source): hint = " (the alert has no \(source))"
                case nil: hint = ""
                }
                problems.append(
                    Problem(param: param.name, message: "has no value\(hint); give --param \(param.name)=VALUE"))
                continue
            }
            let regex = param.pattern.flatMap { try? GoRegex.alertmanager($0) }
            if let violation = RunbookValidator.violation(of: value, in: param, regex: regex) {
                let redacted = param.secret ? "value" : violation
                problems.append(Problem(param: param.name, message: redacted + " (from \(origins[param.name]!))"))
                continue
            }
            values[param.name] = value
            if param.secret {
                let text = value.description
                if !text.isEmpty { secrets.append(text) }
            }
        }
        if !problems.isEmpty { return .failure(Problems(items: problems)) }
        return .success(Resolved(values: values, origins: origins, secrets: secrets))
    }

    private static func shown(_ text: String, _ param: Param) -> String {
        param.secret ? "the value" : "'\(text)'"
    }
}
