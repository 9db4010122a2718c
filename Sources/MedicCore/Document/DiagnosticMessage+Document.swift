extension DiagnosticMessage {
    static func yamlSyntax(_ problem: String) -> Self {
        .init(id: "yaml-syntax", "YAML syntax error: \(problem)")
    }
    public static func fileTooLarge(bytes: Int, limit: Int) -> Self {
        .init(id: "file-too-large", "file is \(bytes) bytes; runbooks are limited to \(limit) bytes")
    }
    static let notUTF8 = Self(id: "not-utf8", "file is not valid UTF-8 text (is it a binary file?)")
    static let emptyDocument = Self(id: "empty-document", "file is empty; expected a runbook mapping")
    static let multipleDocuments = Self(
        id: "multiple-documents", "found a second YAML document; put one runbook per file")
    static let nestingTooDeep = Self(id: "nesting-too-deep", "YAML nesting is deeper than 1000 levels")
    static func tooManyNodes(limit: Int) -> Self {
        .init(id: "too-many-nodes", "document expands to more than \(limit) nodes (aliases are counted at every use)")
    }
    static let aliasAsKey = Self(
        id: "alias-as-key", "aliases and complex keys may not be used as mapping keys in a file with anchors")
    static func duplicateKey(_ keys: String) -> Self {
        .init(id: "duplicate-key", "duplicate mapping key: \(keys)")
    }
    static let badMerge = Self(id: "bad-merge", "a `<<` merge takes a mapping or a list of mappings")
}
