import Foundation

/// The type of a value in a `when` expression.
public enum ValueType: String, Sendable, Equatable {
    case string, int, bool, duration, list

    init(_ paramType: ParamType) {
        switch paramType {
        case .string: self = .string
        case .int: self = .int
        case .bool: self = .bool
        case .duration: self = .duration
        case .list: self = .list
        }
    }
}

/// Checks that a `when` expression is well-typed and yields a boolean.
public struct ExpressionTypeChecker {
    /// The type of a reference, or nil when it names nothing (reported separately by the validator).
    public var typeOf: (Reference) -> ValueType?
    private(set) var errors: [ExpressionError] = []

    public init(typeOf: @escaping (Reference) -> ValueType?) {
        self.typeOf = typeOf
    }

    public static func check(_ expression: Expression, typeOf: @escaping (Reference) -> ValueType?) -> [ExpressionError]
    {
        var checker = ExpressionTypeChecker(typeOf: typeOf)
        if let type = checker.type(of: expression.root), type != .bool {
            checker.errors.append(
                ExpressionError(
                    message: "a condition must be true or false, but this is \(Self.article(type))", offset: 0))
        }
        return checker.errors
    }

    private mutating func fail(_ message: String, _ term: Expression.Term) {
        errors.append(ExpressionError(message: message, offset: Self.offset(of: term), length: Self.length(of: term)))
    }

    /// "a string", "an int".
    static func article(_ type: ValueType) -> String {
        type == .int ? "an int" : "a " + type.rawValue
    }

    private mutating func type(of term: Expression.Term) -> ValueType? {
        switch term {
        case .reference(let reference, _): return typeOf(reference)
        case .string: return .string
        case .int: return .int
        case .bool: return .bool
        case .duration: return .duration
        case .list(let items):
            let types = items.compactMap { type(of: $0) }
            if let first = types.first, types.contains(where: { $0 != first }) {
                fail("list mixes \(Set(types.map(\.rawValue)).sorted().joined(separator: " and ")) values", term)
            }
            return .list
        case .not(let inner):
            expect(.bool, inner, "`!`")
            return .bool
        case .and(let a, let b), .or(let a, let b):
            let op = if case .and = term { "`&&`" } else { "`||`" }
            expect(.bool, a, op)
            expect(.bool, b, op)
            return .bool
        case .compare(let op, let a, let b):
            let (left, right) = (type(of: a), type(of: b))
            guard let left, let right else { return .bool }
            if left != right {
                fail("cannot compare \(Self.article(left)) with \(Self.article(right)) using `\(op.rawValue)`", term)
            } else if op.isOrdering, left != .int, left != .duration {
                fail("`\(op.rawValue)` compares numbers or durations, not \(left.rawValue)s", term)
            } else if left == .string {
                checkStatusLiteral(a, b)
                checkStatusLiteral(b, a)
            }
            return .bool
        case .contains(let a, let b):
            let (left, right) = (type(of: a), type(of: b))
            if let left, left != .string, left != .list {
                fail("`contains` needs a string or a list on its left, not \(Self.article(left))", a)
            }
            if let right, right != .string {
                fail("`contains` looks for a string, not \(Self.article(right))", b)
            }
            return .bool
        case .matches(let subject, let pattern, let offset):
            expect(.string, subject, "`matches`")
            do throws(GoRegex.SyntaxError) {
                _ = try GoRegex.alertmanager(pattern)
            } catch {
                // The offset points into the pattern, past the opening quote.
                errors.append(
                    ExpressionError(
                        message: "invalid regular expression '\(pattern)': \(error)", offset: offset + 1 + error.offset))
            }
            return .bool
        case .isIn(let a, let b):
            let left = type(of: a)
            if let left, left == .list || left == .bool {
                fail("`in` tests a string, number or duration, not \(Self.article(left))", a)
            }
            if case .list(let items) = b {
                _ = type(of: b)
                if let left, let itemType = items.first.flatMap({ type(of: $0) }), itemType != left {
                    fail("`in` compares \(Self.article(left)) with a list of \(itemType.rawValue)s", term)
                }
            } else if let right = type(of: b), right != .list {
                fail("`in` needs a list on its right, such as ['a', 'b'], not \(Self.article(right))", b)
            }
            return .bool
        }
    }

    private mutating func expect(_ expected: ValueType, _ term: Expression.Term, _ op: String) {
        if let actual = type(of: term), actual != expected {
            fail("\(op) needs \(Self.article(expected)), but this is \(Self.article(actual))", term)
        }
    }

    /// `steps.x.status == 'succeded'` is a typo that would silently be false forever.
    private mutating func checkStatusLiteral(_ reference: Expression.Term, _ literal: Expression.Term) {
        guard case .reference(.stepOutput(_, .status), _) = reference, case .string(let value, _) = literal else {
            return
        }
        let statuses = StepStatus.allCases.map(\.rawValue)
        if !statuses.contains(value) {
            let hint = Suggestion.closest(to: value, in: statuses).map { "; did you mean '\($0)'?" } ?? ""
            fail("'\(value)' is not a step status (\(statuses.joined(separator: ", ")))\(hint)", literal)
        }
    }

    static func length(of term: Expression.Term) -> Int {
        if case .reference(let reference, _) = term { return reference.description.unicodeScalars.count }
        return 1
    }

    static func offset(of term: Expression.Term) -> Int {
        switch term {
        case .reference(_, let offset), .matches(_, _, let offset), .string(_, let offset), .int(_, let offset),
            .bool(_, let offset), .duration(_, let offset):
            offset
        case .compare(_, let a, _), .contains(let a, _), .isIn(let a, _), .and(let a, _), .or(let a, _): offset(of: a)
        default: 0
        }
    }
}
