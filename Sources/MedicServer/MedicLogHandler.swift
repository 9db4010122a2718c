import Foundation
import Logging
import MedicCore
import Synchronization

/// swift-log output for `medic serve`: one JSON object per line on stderr for log shippers, or a readable
/// line on a terminal. Metadata keys are kept as given (`run.id`, `step.id`, `alert.fingerprint`).
public struct MedicLogHandler: LogHandler {
    public enum Format: String, Sendable, CaseIterable {
        /// JSON lines unless stderr is a terminal.
        case auto, json, text
    }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String
    let json: Bool
    let sink: @Sendable (String) -> Void

    /// - Parameter sink: where each finished line goes (stderr unless a test says otherwise).
    public init(
        label: String, level: Logger.Level = .info, format: Format = .auto,
        sink: @escaping @Sendable (String) -> Void = MedicLogHandler.standardError
    ) {
        self.label = label
        self.logLevel = level
        self.json = format == .json || (format == .auto && isatty(STDERR_FILENO) == 0)
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    private static let writing = Mutex(())

    /// Writes the whole line with as few `write(2)` calls as it takes, one line at a time across threads.
    public static let standardError: @Sendable (String) -> Void = { line in
        writing.withLock { _ in
            var bytes = Array(line.utf8)
            bytes.append(UInt8(ascii: "\n"))
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return }
                offset += written
            }
        }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        if let error = event.error { merged["error"] = .string("\(error)") }
        let time = RFC3339.format(Date())
        if json {
            var object: [String: JSONValue] = [
                "time": .string(time), "level": .string(event.level.rawValue),
                "message": .string(event.message.description), "logger": .string(label),
            ]
            for (key, value) in merged { object[key] = Self.json(value) }
            sink(JSONValue.object(object).compact)
        } else {
            let fields = merged.keys.sorted().map { "\($0)=\(Self.text(merged[$0]!))" }
            sink(([time, event.level.rawValue, Self.message(event.message.description)] + fields).joined(separator: " "))
        }
    }

    static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let text): .string(text)
        case .stringConvertible(let convertible as Int): JSONValue(convertible)
        case .stringConvertible(let convertible as Bool): .bool(convertible)
        case .stringConvertible(let convertible): .string(convertible.description)
        case .array(let items): .array(items.map(json))
        case .dictionary(let members): .object(members.mapValues(json))
        }
    }

    /// A value as a text-format field: quoted when it holds a space, a quote, an `=` or any control or
    /// line-separating character (those escaped), so a value from an alert label cannot forge a field or a line.
    static func text(_ value: Logger.Metadata.Value) -> String {
        let plain = value.description
        guard plain.unicodeScalars.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || isControl($0) }) else {
            return plain
        }
        return "\"" + escaped(plain, quotes: true) + "\""
    }

    /// The message of a text-format line: control and line-separating characters escaped, the rest as is.
    static func message(_ text: String) -> String {
        text.unicodeScalars.contains(where: isControl) ? escaped(text, quotes: false) : text
    }

    /// C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar == "\u{2028}" || scalar == "\u{2029}"
    }

    private static func escaped(_ text: String, quotes: Bool) -> String {
        var output = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case "\\" where quotes: output += "\\\\"
            case "\"" where quotes: output += "\\\""
            case let control where isControl(control): output += String(format: "\\u%04x", control.value)
            default: output.unicodeScalars.append(scalar)
            }
        }
        return output
    }
}

/// Turns committed audit records into log lines, so an operator tailing the journal sees what Medic did
/// without querying the audit log. Output and rendered commands stay in the audit log only.
public struct AuditEventLogger: Sendable {
    public let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// Body fields too large or too sensitive for a log line; they are in the audit record.
    static let omitted: Set = [
        "stdout", "stderr", "params", "labels", "annotations", "plan", "argv", "shell", "env", "alert", "steps",
        "payload_sha256", "cancelled_waiting",
    ]

    public func log(_ event: AuditEvent) {
        var metadata: Logger.Metadata = ["kind": .string(event.kind.rawValue)]
        if !event.runID.isEmpty { metadata["run.id"] = .string(event.runID) }
        if let step = event.body["step"]?.stringValue { metadata["step.id"] = .string(step) }
        let fingerprint =
            event.body["fingerprint"]?.stringValue ?? event.body["alert"]?.objectValue?["fingerprint"]?.stringValue
        if let fingerprint { metadata["alert.fingerprint"] = .string(fingerprint) }
        if let alertname = event.body["labels"]?.objectValue?["alertname"]?.stringValue
            ?? event.body["alert"]?.objectValue?["labels"]?.objectValue?["alertname"]?.stringValue
        {
            metadata["alertname"] = .string(alertname)
        }
        for (key, value) in event.body where !Self.omitted.contains(key) && key != "step" && key != "fingerprint" {
            switch value {
            case .string(let text): metadata[key] = .string(text)
            case .number: metadata[key] = value.intValue.map { .stringConvertible($0) } ?? .string(value.compact)
            case .bool(let flag): metadata[key] = .stringConvertible(flag)
            default: break
            }
        }
        logger.log(
            level: Self.level(event), "\(event.kind.rawValue.replacingOccurrences(of: ".", with: " "))", metadata: metadata)
    }

    /// Failures and safety trips are warnings; attempt starts are debug; the rest is info.
    static func level(_ event: AuditEvent) -> Logger.Level {
        switch event.kind {
        case .attemptStarted, .retryScheduled: return .debug
        case .breakerOpened, .runStopping, .escalationFailed: return .warning
        case .runEscalated: return .error
        case .attemptFinished:
            let clean =
                event.body["exit_code"]?.intValue == 0 && event.body["timed_out"] != .bool(true)
                && event.body["error"] == nil
            if event.body["kill_unconfirmed"] != nil { return .error }
            return clean ? .info : .warning
        case .rollbackFinished:
            return event.body["succeeded"] == .bool(true) ? .info : .error
        case .runFinished:
            switch event.body["outcome"]?.stringValue {
            case "succeeded", "shadowed", "suppressed": return .info
            case "rollback_failed": return .error
            default: return .warning
            }
        default: return .info
        }
    }
}
