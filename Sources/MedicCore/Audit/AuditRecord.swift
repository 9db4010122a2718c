import Foundation

/// One stored audit record: an event placed in the hash chain.
///
/// The chain: `hash = SHA-256(prev_hash ‖ canonical)` over ASCII hex `prev_hash` (64 zeros for the first
/// record) followed by the UTF-8 bytes of `canonical`, the record's canonical JSON: the object
/// `{"body","kind","run_id","seq","time"}` with keys sorted, no insignificant whitespace, strings escaped as
/// `"` `\\` `\b` `\f` `\n` `\r` `\t` and `\u00XX` for other control characters, everything else as raw UTF-8
/// (exactly Python's `json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`).
public struct AuditRecord: Sendable, Equatable {
    public var seq: Int64
    /// RFC 3339 with milliseconds, UTC.
    public var time: String
    public var kind: String
    public var runID: String?
    /// Canonical JSON of the body object.
    public var body: String
    public var prevHash: String
    public var hash: String

    public init(seq: Int64, time: String, kind: String, runID: String?, body: String, prevHash: String, hash: String) {
        self.seq = seq
        self.time = time
        self.kind = kind
        self.runID = runID
        self.body = body
        self.prevHash = prevHash
        self.hash = hash
    }

    public static let genesisHash = String(repeating: "0", count: 64)

    /// The canonical JSON that is hashed (the body is embedded as already-canonical JSON).
    public static func canonical(seq: Int64, time: String, kind: String, runID: String?, body: String) -> String {
        let run = runID.map { JSONValue.quote($0) } ?? "null"
        return
            "{\"body\":\(body),\"kind\":\(JSONValue.quote(kind)),\"run_id\":\(run),\"seq\":\(seq),\"time\":\(JSONValue.quote(time))}"
    }

    public var canonical: String {
        Self.canonical(seq: seq, time: time, kind: kind, runID: runID, body: body)
    }

    /// One export line: the canonical fields plus `prev_hash` and `hash` (also canonical JSON).
    public var exportLine: String {
        let run = runID.map { JSONValue.quote($0) } ?? "null"
        return
            "{\"body\":\(body),\"hash\":\(JSONValue.quote(hash)),\"kind\":\(JSONValue.quote(kind)),\"prev_hash\":\(JSONValue.quote(prevHash)),\"run_id\":\(run),\"seq\":\(seq),\"time\":\(JSONValue.quote(time))}"
    }

    /// The body parsed back into a value (for display).
    public var bodyValue: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:]
    }
}
