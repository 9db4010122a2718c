import Foundation

/// A time filter as people write it: a duration back from now (`24h`, `7d`) or a date (`2026-11-25`, RFC 3339).
/// Parsed to the RFC 3339 text the audit log stores, so it compares as stored times do.
public enum TimeBound {
    /// The RFC 3339 time `text` names, or nil when it is neither a duration nor a date.
    public static func parse(_ text: String, now: Date = Date()) -> String? {
        if let duration = Duration(dsl: text) {
            return RFC3339.format(now.addingTimeInterval(-Double(duration.milliseconds) / 1000))
        }
        if let date = RFC3339.parse(text) { return RFC3339.format(date) }
        if let date = try? Date.ISO8601FormatStyle().year().month().day().parse(text) { return RFC3339.format(date) }
        return nil
    }

    /// Why `text` is not a time filter.
    public static func unparsable(_ text: String) -> String {
        "'\(text)' is neither a duration (24h, 7d) nor a date (2026-11-25, 2026-11-25T10:00:00Z)"
    }
}
