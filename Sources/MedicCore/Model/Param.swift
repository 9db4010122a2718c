/// A typed runbook input whose value comes from the caller, the alert, the environment or a default.
public struct Param: Sendable, Equatable {
    public var name: String
    public var type: ParamType
    public var description: String?
    public var source: ParamSource?
    public var defaultValue: ParamValue?
    /// An anchored regular expression every string value (or list element) must match.
    public var pattern: String?
    public var min: ParamValue?
    public var max: ParamValue?
    public var allowed: [ParamValue]?
    public var secret: Bool
    /// A regular expression with one capturing group, matched against the whole raw value; the value becomes
    /// what the group captured (`([^:]+)(?::\d+)?` turns `node7:9100` into `node7`).
    public var extract: String?

    public init(
        name: String, type: ParamType = .string, description: String? = nil, source: ParamSource? = nil,
        defaultValue: ParamValue? = nil, pattern: String? = nil, min: ParamValue? = nil, max: ParamValue? = nil,
        allowed: [ParamValue]? = nil, secret: Bool = false, extract: String? = nil
    ) {
        self.name = name
        self.type = type
        self.description = description
        self.source = source
        self.defaultValue = defaultValue
        self.pattern = pattern
        self.min = min
        self.max = max
        self.allowed = allowed
        self.secret = secret
        self.extract = extract
    }

    /// A param with neither a source nor a default must be given by the caller (`--param`).
    public var isRequired: Bool { source == nil && defaultValue == nil }
}

/// The type of a param's value.
public enum ParamType: String, Sendable, Equatable, CaseIterable {
    case string, int, bool, duration, list
}

/// A param's value, typed.
public enum ParamValue: Sendable, Hashable, CustomStringConvertible {
    case string(String)
    case int(Int)
    case bool(Bool)
    case duration(Duration)
    case list([String])

    public var type: ParamType {
        switch self {
        case .string: .string
        case .int: .int
        case .bool: .bool
        case .duration: .duration
        case .list: .list
        }
    }

    /// Strings compare by their bytes, as matchers do: an `enum` of `Kafka` must not admit `\u{212A}afka`
    /// (Kelvin sign), which Swift's `==` would call equal and the command would receive as other bytes.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.string(let a), .string(let b)): a.isExactly(b)
        case (.int(let a), .int(let b)): a == b
        case (.bool(let a), .bool(let b)): a == b
        case (.duration(let a), .duration(let b)): a == b
        case (.list(let a), .list(let b)): a.isExactly(b)
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .string(let text): ExactText(text).hash(into: &hasher)
        case .int(let number): hasher.combine(number)
        case .bool(let flag): hasher.combine(flag)
        case .duration(let duration): hasher.combine(duration)
        case .list(let items): for item in items { ExactText(item).hash(into: &hasher) }
        }
    }

    /// The text a template renders for this value.
    public var description: String {
        switch self {
        case .string(let value): value
        case .int(let value): String(value)
        case .bool(let value): value ? "true" : "false"
        case .duration(let value): value.dslDescription
        case .list(let values): values.joined(separator: ",")
        }
    }

    /// Parses text (from `--param`, a label, an environment variable) as a value of `type`.
    public static func parse(_ text: String, as type: ParamType) -> ParamValue? {
        switch type {
        case .string: return .string(text)
        case .int: return Int(text.trimmingCharacters(in: .whitespaces)).map(ParamValue.int)
        case .bool: return YAMLScalarKind.bool(text.trimmingCharacters(in: .whitespaces)).map(ParamValue.bool)
        case .duration: return Duration(dsl: text).map(ParamValue.duration)
        case .list:
            if text.isEmpty { return .list([]) }
            return .list(text.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) })
        }
    }
}

/// Where a param's value comes from when the caller does not give one.
public enum ParamSource: Sendable, Hashable, CustomStringConvertible {
    case alertLabel(String)
    case alertAnnotation(String)
    case alertFingerprint
    case environment(String)

    /// Parses `alert.labels.NAME`, `alert.annotations.NAME`, `alert.fingerprint` or `env.NAME`.
    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "alert.fingerprint" {
            self = .alertFingerprint
        } else if let name = trimmed.dropPrefix("alert.labels."), Identifier.isLabelName(name) {
            self = .alertLabel(name)
        } else if let name = trimmed.dropPrefix("alert.annotations."), Identifier.isLabelName(name) {
            self = .alertAnnotation(name)
        } else if let name = trimmed.dropPrefix("env."), Identifier.isEnvironmentName(name) {
            self = .environment(name)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .alertLabel(let name): "alert.labels.\(name)"
        case .alertAnnotation(let name): "alert.annotations.\(name)"
        case .alertFingerprint: "alert.fingerprint"
        case .environment(let name): "env.\(name)"
        }
    }
}

extension String {
    func dropPrefix(_ prefix: String) -> String? {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : nil
    }
}
