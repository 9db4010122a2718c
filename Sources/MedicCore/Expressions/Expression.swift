/// A parsed `when` condition: the text as written and its syntax tree.
public struct Expression: Sendable, Hashable, CustomStringConvertible {
    public var source: String
    public var root: Term

    public init(source: String, root: Term) {
        self.source = source
        self.root = root
    }

    public var description: String { source }

    /// A node of the expression tree.
    public indirect enum Term: Sendable, Hashable {
        case reference(Reference, offset: Int)
        case string(String, offset: Int = 0)
        case int(Int, offset: Int = 0)
        case bool(Bool, offset: Int = 0)
        case duration(Duration, offset: Int = 0)
        case list([Term])
        case not(Term)
        case and(Term, Term)
        case or(Term, Term)
        case compare(ComparisonOperator, Term, Term)
        case contains(Term, Term)
        /// The pattern is a string literal, fully anchored when evaluated.
        case matches(Term, pattern: String, offset: Int)
        case isIn(Term, Term)
    }

    /// `== != < <= > >=`.
    public enum ComparisonOperator: String, Sendable, Hashable, CaseIterable {
        case equal = "=="
        case notEqual = "!="
        case less = "<"
        case lessOrEqual = "<="
        case greater = ">"
        case greaterOrEqual = ">="

        public var isOrdering: Bool { self != .equal && self != .notEqual }
    }

    /// Every reference the expression reads.
    public var references: [Reference] {
        var found: [Reference] = []
        func visit(_ term: Term) {
            switch term {
            case .reference(let reference, _): found.append(reference)
            case .string, .int, .bool, .duration: break
            case .list(let items): items.forEach(visit)
            case .not(let inner): visit(inner)
            case .and(let a, let b), .or(let a, let b), .compare(_, let a, let b), .contains(let a, let b),
                .isIn(let a, let b):
                visit(a)
                visit(b)
            case .matches(let subject, _, _): visit(subject)
            }
        }
        visit(root)
        return found
    }
}

/// Why an expression could not be parsed or type-checked; `offset` counts Unicode scalars (0-based).
public struct ExpressionError: Error, Sendable, Equatable {
    public var message: String
    public var offset: Int
    /// How many characters the problem spans (1 when unknown).
    public var length: Int

    public init(message: String, offset: Int, length: Int = 1) {
        self.message = message
        self.offset = offset
        self.length = length
    }
}
