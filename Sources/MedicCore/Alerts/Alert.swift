import Foundation

/// One alert, whatever format it arrived in: labels, annotations, status and where it came from.
public struct Alert: Sendable, Equatable {
    /// The intake format the alert arrived in.
    public enum Source: String, Sendable, Equatable, CaseIterable {
        case alertmanager, grafana, json
    }

    /// Taken from each alert's own `status`, never from `endsAt`.
    public enum Status: String, Sendable, Equatable {
        case firing, resolved
    }

    public var source: Source
    public var status: Status
    public var labels: [String: String]
    public var annotations: [String: String]
    public var startsAt: Date?
    public var endsAt: Date?
    /// 16 hex digits; computed as Alertmanager does when the payload has none.
    public var fingerprint: String
    public var generatorURL: String?
    /// The receiver and group key of the notification that carried the alert.
    public var receiver: String?
    public var groupKey: String?

    public init(
        source: Source, status: Status, labels: [String: String], annotations: [String: String] = [:],
        startsAt: Date? = nil, endsAt: Date? = nil, fingerprint: String? = nil, generatorURL: String? = nil,
        receiver: String? = nil, groupKey: String? = nil
    ) {
        self.source = source
        self.status = status
        self.labels = labels
        self.annotations = annotations
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.fingerprint = fingerprint ?? Self.fingerprint(of: labels)
        self.generatorURL = generatorURL
        self.receiver = receiver
        self.groupKey = groupKey
    }

    public var name: String { labels["alertname"] ?? "" }

    /// Alertmanager's fingerprint: FNV-1a 64 over the label names in order, each name and value followed
    /// by a 0xFF separator byte, printed as 16 hex digits.
    public static func fingerprint(of labels: [String: String]) -> String {
        var hash: UInt64 = 14_695_981_039_346_656_037
        func add(_ byte: UInt8) {
            hash ^= UInt64(byte)
            hash = hash &* 1_099_511_628_211
        }
        for name in labels.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            for byte in name.utf8 { add(byte) }
            add(0xFF)
            for byte in labels[name]!.utf8 { add(byte) }
            add(0xFF)
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
