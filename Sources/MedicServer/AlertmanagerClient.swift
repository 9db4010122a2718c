import Foundation
import MedicExecution

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Alertmanager's API v2, asked whether an alert still fires (`GET /api/v2/alerts`, filtered by the alert's
/// name, every state included): an alert whose fingerprint is no longer listed has resolved.
public struct AlertmanagerClient: ResolutionSource {
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
}
