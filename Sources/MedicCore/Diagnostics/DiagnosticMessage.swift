/// A diagnostic's stable id, severity and text. Each concern declares its messages as static functions
/// in an extension next to the code that emits them (`DiagnosticMessage+Decoding.swift`, ...).
public struct DiagnosticMessage: Sendable, Hashable {
    /// Stable, kebab-case identifier that scripts and docs may rely on (`unknown-key`, `dependency-cycle`).
    public let id: String
    public let severity: Severity
    public let text: String

    public init(id: String, severity: Severity = .error, _ text: String) {
        self.id = id
        self.severity = severity
        self.text = text
    }
}
