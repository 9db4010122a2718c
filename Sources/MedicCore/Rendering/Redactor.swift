/// Replaces secret values with `***` in anything Medic prints, logs or records.
public struct Redactor: Sendable, Equatable {
    public static let mask = "***"
    /// Longest first, so a secret that contains another is masked whole.
    public let secrets: [String]

    public init(secrets: [String]) {
        // Each secret in both Unicode normal forms too: a command may print it composed or decomposed.
        let forms = secrets.filter { !$0.isEmpty }.flatMap {
            [$0, $0.precomposedStringWithCanonicalMapping, $0.decomposedStringWithCanonicalMapping]
        }
        // Deduplicated by bytes: Swift's `==` treats the normal forms as equal, which would drop one.
        var seen: Set<[UInt8]> = []
        self.secrets = forms.filter { seen.insert(Array($0.utf8)).inserted }.sorted { $0.utf8.count > $1.utf8.count }
    }

    public static let none = Redactor(secrets: [])

    public func redact(_ text: String) -> String {
        guard !secrets.isEmpty else { return text }
        // Literal search: the default compares whole Characters, so a secret followed by a combining mark
        // (`s3cret` + U+0301) would not match and would leak (found while fuzzing the matcher).
        var output = text
        for secret in secrets where output.range(of: secret, options: .literal) != nil {
            output = output.replacingOccurrences(of: secret, with: Self.mask, options: .literal)
        }
        return output
    }

    public func redact(_ texts: [String]) -> [String] {
        texts.map(redact)
    }
}
