/// Durations as the DSL writes them: `500ms`, `10s`, `5m`, `1h`, `2d`, and compounds like `1h30m`.
extension Duration {
    /// Parses a DSL duration; nil when the text is not one.
    public init?(dsl text: String) {
        let scalars = Array(text.trimmingCharacters(in: .whitespaces).unicodeScalars)
        guard !scalars.isEmpty else { return nil }
        var total: Int64 = 0
        var index = 0
        while index < scalars.count {
            var number: Int64 = 0
            let start = index
            while index < scalars.count, Identifier.isDigit(scalars[index]) {
                let digit = Int64(scalars[index].value - 48)
                let (product, overflow) = number.multipliedReportingOverflow(by: 10)
                guard !overflow else { return nil }
                number = product + digit
                index += 1
            }
            guard index > start else { return nil }
            var unit = ""
            while index < scalars.count, Identifier.isLetter(scalars[index]) {
                unit.unicodeScalars.append(scalars[index])
                index += 1
            }
            let millisecondsPerUnit: Int64
            switch unit {
            case "ms": millisecondsPerUnit = 1
            case "s": millisecondsPerUnit = 1_000
            case "m": millisecondsPerUnit = 60_000
            case "h": millisecondsPerUnit = 3_600_000
            case "d": millisecondsPerUnit = 86_400_000
            default: return nil
            }
            let (part, overflow) = number.multipliedReportingOverflow(by: millisecondsPerUnit)
            guard !overflow, total <= Int64.max - part else { return nil }
            total += part
        }
        self = .milliseconds(total)
    }

    /// Whole milliseconds, rounded down.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000 + attoseconds / 1_000_000_000_000_000
    }

    /// The shortest DSL spelling: `1h30m`, `500ms`, `0s`.
    public var dslDescription: String {
        var remaining = milliseconds
        if remaining == 0 { return "0s" }
        var text = ""
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
            if remaining >= size {
                text += "\(remaining / size)\(unit)"
                remaining %= size
            }
        }
        return text
    }
}
