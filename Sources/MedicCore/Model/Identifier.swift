/// The shapes of names in the DSL: runbook and step ids, param names, label and environment names.
public enum Identifier {
    /// Runbook ids: `[a-z0-9][a-z0-9-]*`.
    public static func isRunbookID(_ text: String) -> Bool {
        matches(text, first: { isLowerAlnum($0) }, rest: { isLowerAlnum($0) || $0 == "-" })
    }

    /// Step ids: `[a-z0-9][a-z0-9_-]*`.
    public static func isStepID(_ text: String) -> Bool {
        matches(text, first: { isLowerAlnum($0) }, rest: { isLowerAlnum($0) || $0 == "-" || $0 == "_" })
    }

    /// Param names: `[A-Za-z_][A-Za-z0-9_]*`.
    public static func isParamName(_ text: String) -> Bool {
        isEnvironmentName(text)
    }

    /// Prometheus label names: `[a-zA-Z_][a-zA-Z0-9_]*`.
    public static func isLabelName(_ text: String) -> Bool {
        isEnvironmentName(text)
    }

    /// Environment variable names: `[A-Za-z_][A-Za-z0-9_]*`.
    public static func isEnvironmentName(_ text: String) -> Bool {
        matches(text, first: { isLetter($0) || $0 == "_" }, rest: { isLetter($0) || isDigit($0) || $0 == "_" })
    }

    static func isLowerAlnum(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || isDigit(c) }
    static func isLetter(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("A"..."Z").contains(c) }
    static func isDigit(_ c: Unicode.Scalar) -> Bool { ("0"..."9").contains(c) }

    private static func matches(
        _ text: String, first: (Unicode.Scalar) -> Bool, rest: (Unicode.Scalar) -> Bool
    ) -> Bool {
        var scalars = text.unicodeScalars.makeIterator()
        guard let head = scalars.next(), first(head) else { return false }
        while let next = scalars.next() {
            if !rest(next) { return false }
        }
        return true
    }
}
