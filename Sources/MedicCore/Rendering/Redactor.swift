/// Replaces secret values with `***` in anything Medic prints, logs or records.
public struct Redactor: Sendable, Equatable {
    public static let mask = "***"
    /// Longest first, so a secret that contains another is masked whole.
    public let secrets: [String]

    public init(secrets: [String]) {
        self.secrets = Array(Set(secrets.filter { !$0.isEmpty })).sorted { $0.count > $1.count }
    }

    public static let none = Redactor(secrets: [])

    public func redact(_ text: String) -> String {
        guard !secrets.isEmpty else { return text }
        var output = text
        for secret in secrets where output.contains(secret) {
            output = output.replacingOccurrences(of: secret, with: Self.mask)
        }
        return output
    }

    public func redact(_ texts: [String]) -> [String] {
        texts.map(redact)
    }
}
