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

    /// `GET /api/v2/alerts?filter=alertname="…"` with every state: whether the fingerprint is listed. The query
    /// is encoded by hand: Foundation leaves `+` alone, which Go reads as a space.
    public func state(fingerprint: String, labels: [String: String], lastSeenFiring: Date?) async -> AlertState {
        var query = "active=true&silenced=true&inhibited=true&unprocessed=true"
        if let alertname = labels["alertname"] {
            query += "&filter=" + Self.percentEncoded(Self.matcher("alertname", alertname))
        }
        guard var components = URLComponents(url: base.appendingPathComponent("api/v2/alerts"), resolvingAgainstBaseURL: false)
        else { return .unknown }
        components.percentEncodedQuery = query
        guard let url = components.url,
            let data = try? await send("GET", url: url, body: nil),
            let alerts = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]]
        else { return .unknown }
        if alerts.contains(where: { $0["fingerprint"] as? String == fingerprint }) { return .firing }
        // Gone: it resolved, unless Alertmanager never saw it firing or has restarted (and forgotten it) since.
        guard let lastSeenFiring, let started = await startedAt(), started < lastSeenFiring else { return .unknown }
        return .resolved
    }

    /// When this Alertmanager started (`GET /api/v2/status`, `uptime`).
    func startedAt() async -> Date? {
        guard let data = try? await send("GET", url: base.appendingPathComponent("api/v2/status"), body: nil),
            let status = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let uptime = status["uptime"] as? String
        else { return nil }
        return RFC3339.parse(uptime)
    }

    static func percentEncoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private func send(_ method: String, _ path: String, body: Any?, timeout: TimeInterval? = nil) async throws -> Data {
        try await send(method, url: base.appendingPathComponent(path), body: body, timeout: timeout)
    }

    private func send(_ method: String, url: URL, body: Any?, timeout: TimeInterval? = nil) async throws -> Data {
        let path = url.path
        var request = URLRequest(url: url, timeoutInterval: timeout ?? self.timeout)
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
        var matchers = labels.keys.sorted().map { name -> [String: Any] in
            ["name": name, "value": labels[name]!, "isRegex": false, "isEqual": true]
        }
        // Without an alertname the label set would also match Medic's own MedicEscalation: `alertname=""`
        // matches only alerts that have none.
        if labels["alertname"] == nil {
            matchers.append(["name": "alertname", "value": "", "isRegex": false, "isEqual": true])
        }
        let body: [String: Any] = [
            "matchers": matchers, "startsAt": RFC3339.format(Date()), "endsAt": RFC3339.format(until),
            "createdBy": "medic", "comment": comment,
        ]
        // Short: a run waits for it before its first step.
        let data = try await send("POST", "api/v2/silences", body: body, timeout: 3)
        guard let answer = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let id = answer["silenceID"] as? String
        else { throw Failure(description: "POST api/v2/silences: no silenceID in \(String(decoding: data.prefix(256), as: UTF8.self))") }
        return id
    }

    public func medicSilences() async throws -> [(id: String, comment: String)] {
        let data = try await send("GET", "api/v2/silences", body: nil)
        guard let silences = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else { return [] }
        return silences.compactMap { silence in
            guard silence["createdBy"] as? String == "medic",
                (silence["status"] as? [String: Any])?["state"] as? String == "active",
                let id = silence["id"] as? String
            else { return nil }
            return (id, silence["comment"] as? String ?? "")
        }
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
