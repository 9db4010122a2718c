/// A YAML node as Medic reads it: scalars keep their raw text and style, every node keeps its position.
///
/// Medic does its own typing of scalars (so `no` in a string field stays the string "no"), which is why this
/// tree keeps text rather than Yams' resolved values.
public struct DocumentNode: Sendable {
    /// How a scalar was written.
    public enum ScalarStyle: Sendable, Hashable {
        case plain, singleQuoted, doubleQuoted, literal, folded

        public var isQuoted: Bool { self != .plain }
    }

    /// A scalar's text as written (after YAML unescaping) and its style.
    public struct Scalar: Sendable, Hashable {
        public var text: String
        public var style: ScalarStyle
        /// An explicit tag such as `!!str`, if one was written.
        public var tag: String?

        public init(text: String, style: ScalarStyle, tag: String? = nil) {
            self.text = text
            self.style = style
            self.tag = tag
        }

        /// True for a plain `~`, `null`, or empty scalar.
        public var isNull: Bool {
            guard style == .plain, tag == nil else { return false }
            return ["", "~", "null", "Null", "NULL"].contains(text)
        }
    }

    /// A mapping entry; keys keep their own position for diagnostics about keys.
    public struct Entry: Sendable {
        public var key: DocumentNode
        public var value: DocumentNode

        public init(key: DocumentNode, value: DocumentNode) {
            self.key = key
            self.value = value
        }

        /// The key's text when the key is a scalar.
        public var name: String? { key.scalar?.text }
    }

    public enum Kind: Sendable {
        case scalar(Scalar)
        case sequence([DocumentNode])
        case mapping([Entry])
    }

    public var kind: Kind
    public var location: SourceLocation

    public init(_ kind: Kind, at location: SourceLocation) {
        self.kind = kind
        self.location = location
    }

    public var scalar: Scalar? {
        if case .scalar(let scalar) = kind { return scalar }
        return nil
    }

    public var sequence: [DocumentNode]? {
        if case .sequence(let items) = kind { return items }
        return nil
    }

    public var mapping: [Entry]? {
        if case .mapping(let entries) = kind { return entries }
        return nil
    }

    /// What a user would call this node's type, for messages: "a string", "a list", "a mapping", "null".
    public var kindDescription: String {
        switch kind {
        case .scalar(let scalar):
            if scalar.isNull { return "null" }
            if scalar.style.isQuoted { return "a string" }
            if YAMLScalarKind.bool(scalar.text) != nil { return "a boolean" }
            if Int(scalar.text) != nil { return "a number" }
            return "a string"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }
}

/// YAML 1.1 readings of plain scalars that Medic needs (booleans), kept in one place.
public enum YAMLScalarKind {
    /// The boolean a plain scalar denotes in YAML 1.1, if any (`true`, `yes`, `on`, ... and their negatives).
    public static func bool(_ text: String) -> Bool? {
        switch text {
        case "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y": true
        case "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N": false
        default: nil
        }
    }
}
