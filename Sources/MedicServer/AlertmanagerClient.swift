import Foundation
import MedicCore
import MedicExecution

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Alertmanager's API v2, asked whether an alert still fires (`GET /api/v2/alerts`, filtered by the alert's
/// name, every state included): an alert whose fingerprint is no longer listed has resolved.
public struct AlertmanagerClient: AlertmanagerActions {
    public let base: URL
    /// A bearer token, when Alertmanager sits behind a proxy that asks for one.
    public let token: String?
    public let timeout: TimeInterval
    public var name: String { "alertmanager_api" }

    public init(base: URL, token: String? = nil, timeout: TimeInterval = 10) {
        self.base = base
        self.token = token
        self.timeout = timeout
    }

    /// `name="value"` as an Alertmanager matcher, the value escaped as Alertmanager reads it.
    static func matcher(_ name: String, _ value: String) -> String {
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return "\(name)=\"\(escaped)\""
    }

    public func isResolved(fingerprint: String, labels: [String: String]) async -> Bool? {
        guard var components = URLComponents(url: base.appendingPathComponent("api/v2/alerts"), resolvingAgainstBaseURL: false)
        else { return nil }
        var items = ["active", "silenced", "inhibited", "unprocessed"].map { URLQueryItem(name: $0, value: "true") }
        if let alertname = labels["alertname"] { items.append(URLQueryItem(name: "filter", value: Self.matcher("alertname", alertname))) }
        components.queryItems = items
        guard let url = components.url else { return nil }
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        guard let (data, response) = try? await URLSession.shared.data(for: request),
            (response as? HTTPURLResponse)?.statusCode == 200,
            let alerts = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]]
        else { return nil }
        return !alerts.contains { $0["fingerprint"] as? String == fingerprint }
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private func send(_ method: String, _ path: String, body: Any?) async throws -> Data {
        var request = URLRequest(url: base.appendingPathComponent(path), timeoutInterval: timeout)
        request.httpMethod = method
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let body {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        }
        let (data, response): (Data, URLResponse)
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw Failure(description: "\(method) \(path): \(error.localizedDescription)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            let answer = String(decoding: data.prefix(512), as: UTF8.self)
            throw Failure(description: "\(method) \(path): HTTP \(status) \(answer)")
        }
        return data
    }

    public func createSilence(labels: [String: String], until: Date, comment: String) async throws -> String {
        let matchers = labels.keys.sorted().map { name -> [String: Any] in
            ["name": name, "value": labels[name]!, "isRegex": false, "isEqual": true]
        }
        let body: [String: Any] = [
            "matchers": matchers, "startsAt": RFC3339.format(Date()), "endsAt": RFC3339.format(until),
            "createdBy": "medic", "comment": comment,
        ]
        let data = try await send("POST", "api/v2/silences", body: body)
        guard let answer = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let id = answer["silenceID"] as? String
        else { throw Failure(description: "POST api/v2/silences: no silenceID in \(String(decoding: data.prefix(256), as: UTF8.self))") }
        return id
    }

    public func expireSilence(_ id: String) async throws {
        _ = try await send("DELETE", "api/v2/silence/\(id)", body: nil)
    }

    public func postAlert(labels: [String: String], annotations: [String: String], startsAt: Date, endsAt: Date) async throws {
        let alert: [String: Any] = [
            "labels": labels, "annotations": annotations, "startsAt": RFC3339.format(startsAt),
            "endsAt": RFC3339.format(endsAt),
        ]
        _ = try await send("POST", "api/v2/alerts", body: [alert])
    }
}
