/// A name a template or `when` expression reads: `params.x`, `alert.labels.x`, `steps.x.exit_code`, ...
public enum Reference: Sendable, Hashable, CustomStringConvertible {
    case param(String)
    case alertLabel(String)
    case alertAnnotation(String)
    case alertFingerprint
    case runID
    case stepOutput(step: String, field: StepField)

    /// What a template may read of an earlier step.
    public enum StepField: String, Sendable, Hashable, CaseIterable {
        case stdout, stderr
        case exitCode = "exit_code"
        case status
    }

    /// The roots a reference may start with, for messages.
    public static let forms =
        "params.NAME, alert.labels.NAME, alert.annotations.NAME, alert.fingerprint, run.id, steps.ID.stdout|stderr|exit_code|status"

    /// Parses a dotted name; the error says what is wrong with it.
    public static func parse(_ text: String) -> Result<Reference, ReferenceError> {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        func unknown() -> Result<Reference, ReferenceError> {
            .failure(ReferenceError(message: "unknown reference `\(text)`; templates and `when` read \(forms)"))
        }
        guard let root = parts.first else { return unknown() }
        switch root {
        case "params":
            guard parts.count == 2, !parts[1].isEmpty else {
                return .failure(ReferenceError(message: "`\(text)` is not a param reference; write params.NAME"))
            }
            return .success(.param(parts[1]))
        case "alert":
            if parts.count == 2, parts[1] == "fingerprint" { return .success(.alertFingerprint) }
            if parts.count == 3, parts[1] == "labels" || parts[1] == "annotations" {
                guard Identifier.isLabelName(parts[2]) else {
                    return .failure(ReferenceError(message: "`\(parts[2])` is not a valid label name in `\(text)`"))
                }
                return .success(parts[1] == "labels" ? .alertLabel(parts[2]) : .alertAnnotation(parts[2]))
            }
            return .failure(
                ReferenceError(
                    message:
                        "unknown alert field in `\(text)`; use alert.labels.NAME, alert.annotations.NAME or alert.fingerprint"
                ))
        case "run":
            guard parts.count == 2, parts[1] == "id" else {
                return .failure(ReferenceError(message: "unknown run field in `\(text)`; only run.id exists"))
            }
            return .success(.runID)
        case "steps":
            guard parts.count == 3, !parts[1].isEmpty else {
                return .failure(
                    ReferenceError(
                        message: "`\(text)` is not a step reference; write steps.ID.stdout|stderr|exit_code|status"))
            }
            guard let field = StepField(rawValue: parts[2]) else {
                let fields = StepField.allCases.map(\.rawValue)
                let hint = Suggestion.closest(to: parts[2], in: fields).map { "; did you mean `\($0)`?" } ?? ""
                return .failure(
                    ReferenceError(
                        message:
                            "steps have no field `\(parts[2])` (they have \(fields.joined(separator: ", ")))\(hint)"))
            }
            return .success(.stepOutput(step: parts[1], field: field))
        default:
            return unknown()
        }
    }

    public var description: String {
        switch self {
        case .param(let name): "params.\(name)"
        case .alertLabel(let name): "alert.labels.\(name)"
        case .alertAnnotation(let name): "alert.annotations.\(name)"
        case .alertFingerprint: "alert.fingerprint"
        case .runID: "run.id"
        case .stepOutput(let step, let field): "steps.\(step).\(field.rawValue)"
        }
    }

    /// The step this reference reads from, if any.
    public var step: String? {
        if case .stepOutput(let step, _) = self { return step }
        return nil
    }
}

/// Why a reference is not valid.
public struct ReferenceError: Error, Sendable, Equatable {
    public var message: String
}
