/// Everything templates and `when` expressions read while a run is under way.
public struct RunContext: Sendable, Equatable {
    public var runID: String
    public var params: [String: ParamValue]
    public var alert: Alert?
    /// Outputs of steps that have finished (or been skipped), by step id.
    public var steps: [String: StepOutputs]

    public init(runID: String, params: [String: ParamValue], alert: Alert? = nil, steps: [String: StepOutputs] = [:]) {
        self.runID = runID
        self.params = params
        self.alert = alert
        self.steps = steps
    }

    /// The value of a reference. Steps that have not run read as `""`, exit code -1 and status `not_run`.
    public func value(of reference: Reference) -> RuntimeValue {
        switch reference {
        case .param(let name):
            guard let value = params[name] else { return .string("") }
            return RuntimeValue(value)
        case .alertLabel(let name): return .string(alert?.labels.value(forExactKey: name) ?? "")
        case .alertAnnotation(let name): return .string(alert?.annotations.value(forExactKey: name) ?? "")
        case .alertFingerprint: return .string(alert?.fingerprint ?? "")
        case .runID: return .string(runID)
        case .stepOutput(let step, let field):
            let outputs = steps[step] ?? .notRun
            switch field {
            case .stdout: return .string(outputs.stdout)
            case .stderr: return .string(outputs.stderr)
            case .exitCode: return .int(outputs.exitCode)
            case .status: return .string(outputs.status)
            }
        }
    }
}

/// What later steps may read of a finished step. Output has trailing newlines removed, as `$(...)` does.
public struct StepOutputs: Sendable, Equatable {
    public var stdout: String
    public var stderr: String
    public var exitCode: Int
    public var status: String

    public init(stdout: String, stderr: String, exitCode: Int, status: String) {
        self.stdout = Self.trimmingTrailingNewlines(stdout)
        self.stderr = Self.trimmingTrailingNewlines(stderr)
        self.exitCode = exitCode
        self.status = status
    }

    public static let notRun = StepOutputs(stdout: "", stderr: "", exitCode: -1, status: "not_run")

    public static func trimmingTrailingNewlines(_ text: String) -> String {
        var end = text.endIndex
        while end > text.startIndex {
            let previous = text.index(before: end)
            guard text[previous] == "\n" || text[previous] == "\r\n" || text[previous] == "\r" else { break }
            end = previous
        }
        return String(text[..<end])
    }
}

/// A value while evaluating `when` or rendering a template.
public enum RuntimeValue: Sendable, Equatable {
    case string(String)
    case int(Int)
    case bool(Bool)
    case duration(Duration)
    case list([String])

    public init(_ value: ParamValue) {
        switch value {
        case .string(let text): self = .string(text)
        case .int(let number): self = .int(number)
        case .bool(let flag): self = .bool(flag)
        case .duration(let duration): self = .duration(duration)
        case .list(let items): self = .list(items)
        }
    }

    /// Strings compare by their bytes, as matchers do (`when: params.svc == 'Kafka'`).
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

    /// The text a template renders.
    public var text: String {
        switch self {
        case .string(let text): text
        case .int(let number): String(number)
        case .bool(let flag): flag ? "true" : "false"
        case .duration(let duration): duration.dslDescription
        case .list(let items): items.joined(separator: ",")
        }
    }
}

extension Template {
    /// The rendered text: literal parts as written, each reference as its value's text (one argument,
    /// never re-split or interpreted).
    public func render(in context: RunContext) -> String {
        var output = ""
        for segment in segments {
            switch segment {
            case .literal(let text): output += text
            case .reference(let reference): output += context.value(of: reference).text
            }
        }
        return output
    }
}
