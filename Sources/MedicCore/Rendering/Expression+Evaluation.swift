import Foundation

extension Expression {
    /// Evaluates the condition. Expressions are type-checked at validation, so a mismatch here (which only a
    /// runbook that skipped validation could reach) evaluates to false rather than trapping.
    public func evaluate(in context: RunContext) -> Bool {
        if case .bool(let result) = Self.value(of: root, in: context) { return result }
        return false
    }

    static func value(of term: Term, in context: RunContext) -> RuntimeValue {
        switch term {
        case .reference(let reference, _): return context.value(of: reference)
        case .string(let text, _): return .string(text)
        case .int(let number, _): return .int(number)
        case .bool(let flag, _): return .bool(flag)
        case .duration(let duration, _): return .duration(duration)
        case .list(let items): return .list(items.map { value(of: $0, in: context).text })
        case .not(let inner): return .bool(!truth(inner, context))
        case .and(let a, let b): return .bool(truth(a, context) && truth(b, context))
        case .or(let a, let b): return .bool(truth(a, context) || truth(b, context))
        case .compare(let op, let a, let b):
            return .bool(compare(op, value(of: a, in: context), value(of: b, in: context)))
        case .contains(let a, let b):
            let needle = value(of: b, in: context).text
            switch value(of: a, in: context) {
            case .list(let items): return .bool(items.contains { $0.isExactly(needle) })
            case let other: return .bool(other.text.containsExactly(needle))
            }
        case .matches(let subject, let pattern, _):
            let text = value(of: subject, in: context).text
            // Validation refuses a pattern that does not compile, so a runbook that loaded always has one.
            guard let regex = try? GoRegex.alertmanager(pattern) else { return .bool(false) }
            return .bool(regex.matches(text))
        case .isIn(let a, let b):
            let needle = value(of: a, in: context)
            switch b {
            case .list(let items): return .bool(items.contains { value(of: $0, in: context) == needle })
            default:
                if case .list(let items) = value(of: b, in: context) {
                    return .bool(items.contains { $0.isExactly(needle.text) })
                }
                return .bool(false)
            }
        }
    }

    private static func truth(_ term: Term, _ context: RunContext) -> Bool {
        if case .bool(let flag) = value(of: term, in: context) { return flag }
        return false
    }

    private static func compare(_ op: ComparisonOperator, _ a: RuntimeValue, _ b: RuntimeValue) -> Bool {
        switch op {
        case .equal: return a == b
        case .notEqual: return a != b
        default:
            let ordered: (Int64, Int64)
            switch (a, b) {
            case (.int(let x), .int(let y)): ordered = (Int64(x), Int64(y))
            case (.duration(let x), .duration(let y)): ordered = (x.milliseconds, y.milliseconds)
            default: return false
            }
            switch op {
            case .less: return ordered.0 < ordered.1
            case .lessOrEqual: return ordered.0 <= ordered.1
            case .greater: return ordered.0 > ordered.1
            case .greaterOrEqual: return ordered.0 >= ordered.1
            case .equal, .notEqual: return false
            }
        }
    }
}
