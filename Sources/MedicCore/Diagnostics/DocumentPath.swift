/// A path to a node inside a YAML document, such as `steps[2].retry.attempts`.
///
/// Diagnostics point at paths; a `SourceMap` turns a path into a line and column when printing.
public struct DocumentPath: Sendable, Hashable, CustomStringConvertible {
    /// One step down the document tree.
    public enum Component: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    public var components: [Component]

    public init(_ components: [Component] = []) {
        self.components = components
    }

    public static let root = DocumentPath()

    public func appending(_ key: String) -> DocumentPath {
        DocumentPath(components + [.key(key)])
    }

    public func appending(index: Int) -> DocumentPath {
        DocumentPath(components + [.index(index)])
    }

    public static func / (lhs: DocumentPath, rhs: String) -> DocumentPath {
        lhs.appending(rhs)
    }

    public static func / (lhs: DocumentPath, rhs: Int) -> DocumentPath {
        lhs.appending(index: rhs)
    }

    public var description: String {
        var text = ""
        for component in components {
            switch component {
            case .key(let key):
                if !text.isEmpty { text += "." }
                text += key
            case .index(let index):
                text += "[\(index)]"
            }
        }
        return text.isEmpty ? "(document)" : text
    }
}
