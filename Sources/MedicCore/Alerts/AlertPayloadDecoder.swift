import Foundation

/// Decodes alert payloads (Alertmanager webhook v4, Grafana unified alerting, plain JSON) into `Alert`s.
/// A message with N alerts yields N alerts. Errors name the JSON path and what was expected.
public enum AlertPayloadDecoder {
    /// Which format to read; `.auto` recognises the three by their shape.
    public enum Format: String, Sendable, CaseIterable {
        case auto, alertmanager, grafana, json
    }

    /// Why a payload could not be decoded: where (a JSON path such as `$.alerts[2].labels`) and why.
    public struct DecodingError: Error, Sendable, Equatable, CustomStringConvertible {
        public var path: String
        public var message: String
        public var description: String { "\(path): \(message)" }
    }

    public static func decode(_ data: Data, format: Format = .auto) throws(DecodingError) -> [Alert] {
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw DecodingError(path: "$", message: "not valid JSON (\(Self.describe(error)))")
        }
        let resolved = format == .auto ? detect(root) : format
        switch resolved {
        case .alertmanager, .grafana:
            guard let object = root as? [String: Any] else {
                throw DecodingError(path: "$", message: "expected an object with an `alerts` list, found \(kind(root))")
            }
            guard let items = object["alerts"] as? [Any] else {
                throw DecodingError(
                    path: "$.alerts",
                    message: object["alerts"] == nil ? "missing" : "expected a list, found \(kind(object["alerts"]!))")
            }
            let source: Alert.Source = resolved == .grafana ? .grafana : .alertmanager
            let receiver = object["receiver"] as? String
            let groupKey = object["groupKey"] as? String
            let defaultStatus = object["status"] as? String
            var alerts: [Alert] = []
            for (index, item) in items.enumerated() {
                alerts.append(
                    try alert(
                        item, path: "$.alerts[\(index)]", source: source, defaultStatus: defaultStatus,
                        receiver: receiver, groupKey: groupKey))
            }
            return alerts
        case .json, .auto:
            if let items = root as? [Any] {
                var alerts: [Alert] = []
                for (index, item) in items.enumerated() {
                    alerts.append(
                        try alert(
                            item, path: "$[\(index)]", source: .json, defaultStatus: nil, receiver: nil, groupKey: nil))
                }
                return alerts
            }
            return [try alert(root, path: "$", source: .json, defaultStatus: nil, receiver: nil, groupKey: nil)]
        }
    }

    /// Recognises the format by shape: Grafana payloads carry `orgId`/`state` or per-alert `values`,
    /// Alertmanager payloads an `alerts` list, plain alerts `labels` at the top.
    public static func detect(_ root: Any) -> Format {
        guard let object = root as? [String: Any] else { return .json }
        guard object["alerts"] != nil else { return .json }
        let alerts = object["alerts"] as? [Any] ?? []
        if object["orgId"] != nil || object["state"] != nil || object["title"] != nil && object["message"] != nil {
            return .grafana
        }
        if let first = alerts.first as? [String: Any],
            first["values"] != nil || first["valueString"] != nil || first["dashboardURL"] != nil
                || first["silenceURL"] != nil
        {
            return .grafana
        }
        return .alertmanager
    }

    private static func alert(
        _ item: Any, path: String, source: Alert.Source, defaultStatus: String?, receiver: String?, groupKey: String?
    ) throws(DecodingError) -> Alert {
        guard let object = item as? [String: Any] else {
            throw DecodingError(path: path, message: "expected an alert object, found \(kind(item))")
        }
        let labels = try stringMap(object["labels"], path: "\(path).labels", required: true)
        let annotations = try stringMap(object["annotations"], path: "\(path).annotations", required: false)
        let statusText = (object["status"] as? String) ?? defaultStatus ?? "firing"
        guard let status = Alert.Status(rawValue: statusText.lowercased()) else {
            throw DecodingError(
                path: "\(path).status", message: "expected \"firing\" or \"resolved\", found \"\(statusText)\"")
        }
        // Alertmanager and Grafana send 16 lowercase hex digits. Anything else (a hand-rolled sender, a
        // corrupted payload) is not trusted as a key for dedup and locks: the labels' fingerprint is used.
        let fingerprint = (object["fingerprint"] as? String).flatMap { Self.isFingerprint($0) ? $0 : nil }
        return Alert(
            source: source, status: status, labels: labels, annotations: annotations,
            startsAt: try date(object["startsAt"], path: "\(path).startsAt"),
            endsAt: try date(object["endsAt"], path: "\(path).endsAt"), fingerprint: fingerprint,
            generatorURL: (object["generatorURL"] as? String).flatMap { $0.isEmpty ? nil : $0 }, receiver: receiver,
            groupKey: groupKey)
    }

    private static func stringMap(_ value: Any?, path: String, required: Bool) throws(DecodingError) -> [String: String]
    {
        guard let value, !(value is NSNull) else {
            if required { throw DecodingError(path: path, message: "missing; an alert needs labels") }
            return [:]
        }
        guard let object = value as? [String: Any] else {
            throw DecodingError(path: path, message: "expected an object of strings, found \(kind(value))")
        }
        var result: [String: String] = [:]
        for (key, entry) in object {
            if let text = entry as? String {
                result[key] = text
            } else if let number = entry as? NSNumber {
                result[key] = number.stringValue
            } else {
                throw DecodingError(path: "\(path).\(key)", message: "expected a string, found \(kind(entry))")
            }
        }
        return result
    }

    private static func date(_ value: Any?, path: String) throws(DecodingError) -> Date? {
        guard let value, !(value is NSNull) else { return nil }
        guard let text = value as? String else {
            throw DecodingError(path: path, message: "expected an RFC 3339 time string, found \(kind(value))")
        }
        if text.isEmpty || text.hasPrefix("0001-01-01") { return nil }
        if let date = RFC3339.parse(text) { return date }
        throw DecodingError(
            path: path, message: "expected an RFC 3339 time such as 2024-05-01T10:00:00Z, found \"\(text)\"")
    }

    static func kind(_ value: Any) -> String {
        switch value {
        case is NSNull: "null"
        case is String: "a string"
        case is [Any]: "a list"
        case is [String: Any]: "an object"
        case is NSNumber: "a number or boolean"
        default: "a value"
        }
    }

    private static func describe(_ error: Error) -> String {
        let nsError = error as NSError
        return (nsError.userInfo[NSDebugDescriptionErrorKey] as? String) ?? "unreadable"
    }
}

/// RFC 3339 timestamps as Alertmanager and Grafana write them (fractional seconds optional, any offset).
public enum RFC3339 {
    public static func parse(_ text: String) -> Date? {
        let plain = Date.ISO8601FormatStyle(includingFractionalSeconds: false)
        let fractional = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        if let date = try? fractional.parse(text) { return date }
        if let date = try? plain.parse(text) { return date }
        // Go prints nanoseconds (9 digits); trim the fraction to milliseconds and retry.
        if let dot = text.firstIndex(of: "."), let end = text[dot...].firstIndex(where: { !$0.isNumber && $0 != "." }) {
            let digits = text[text.index(after: dot)..<end]
            let trimmed =
                text[..<dot] + "." + digits.prefix(3).padding(toLength: 3, withPad: "0", startingAt: 0) + text[end...]
            return try? fractional.parse(String(trimmed))
        }
        return nil
    }

    public static func format(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

}

extension AlertPayloadDecoder {
    /// 16 lowercase hex digits, as Alertmanager prints a fingerprint.
    public static func isFingerprint(_ text: String) -> Bool {
        text.utf8.count == 16 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}
