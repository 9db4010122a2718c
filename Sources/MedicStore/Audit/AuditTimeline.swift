import Foundation
import MedicCore

/// Renders a run's records as a timeline for people (`medic audit show`).
public enum AuditTimeline {
    /// The text of `medic audit show`: the run's start, each attempt with its verdict and output excerpts,
    /// retries, skips, rollbacks and the outcome, timed from the first record.
    public static func text(_ records: [AuditRecord]) -> String {
        var lines: [String] = []
        let start = records.first.flatMap { RFC3339.parse($0.time) }
        func offset(_ record: AuditRecord) -> String {
            guard let start, let time = RFC3339.parse(record.time) else { return record.time }
            return String(format: "+%8.3fs", time.timeIntervalSince(start))
        }
        func excerpt(_ text: String, limit: Int = 8) -> [String] {
            let kept = text.split(separator: "\n", omittingEmptySubsequences: false)
            let trimmed = kept.last == "" ? Array(kept.dropLast()) : kept
            var shown = trimmed.suffix(limit).map { "            | \($0)" }
            if trimmed.count > limit { shown.insert("            | … (\(trimmed.count - limit) more lines)", at: 0) }
            return shown
        }
        for record in records {
            let body = record.bodyValue
            let at = "\(offset(record))  "
            switch record.auditKind {
            case .runStarted:
                lines.append(
                    "run \(record.runID ?? "") — runbook \(body["runbook"] as? String ?? "?"), started \(record.time) by \(body["initiator"] as? String ?? "?")"
                )
                if let params = body["params"] as? [String: Any], !params.isEmpty {
                    lines.append(
                        "  params: " + params.keys.sorted().map { "\($0)=\(params[$0]!)" }.joined(separator: " "))
                }
                if let alert = body["alert"] as? [String: Any] {
                    let labels = (alert["labels"] as? [String: Any]) ?? [:]
                    lines.append(
                        "  alert: \(labels["alertname"] ?? "?") (\(alert["status"] ?? "?"), fingerprint \(alert["fingerprint"] ?? "?"))"
                    )
                    lines.append(
                        "    labels: " + labels.keys.sorted().map { "\($0)=\(labels[$0]!)" }.joined(separator: " "))
                }
            case .attemptStarted:
                let what =
                    (body["phase"] as? String) == "rollback"
                    ? "rollback of \(body["step"] ?? "")" : "\(body["step"] ?? "")"
                let command: String
                if let argv = body["argv"] as? [String] {
                    command = argv.map(ShellQuoting.quote).joined(separator: " ")
                } else {
                    command = "shell script"
                }
                lines.append("\(at)▶ \(what) attempt \(body["attempt"] ?? 1): \(command)")
            case .attemptFinished:
                let what =
                    (body["phase"] as? String) == "rollback"
                    ? "rollback of \(body["step"] ?? "")" : "\(body["step"] ?? "")"
                var verdict: String
                if let error = body["error"] as? String {
                    verdict = error
                } else if (body["timed_out"] as? Bool) == true {
                    verdict = "timed out (signal \(body["signal"] ?? "?"))"
                } else if (body["cancelled"] as? Bool) == true {
                    verdict = "stopped"
                } else if let code = body["exit_code"] as? Int {
                    verdict = "exit \(code)"
                } else {
                    verdict = "killed by signal \(body["signal"] ?? "?")"
                }
                lines.append(
                    "\(at)\(verdict == "exit 0" ? "✔" : "✘") \(what) attempt \(body["attempt"] ?? 1): \(verdict) in \(body["duration_ms"] ?? 0) ms"
                )
                if let stdout = body["stdout"] as? String, !stdout.isEmpty { lines += excerpt(stdout) }
                if let stderr = body["stderr"] as? String, !stderr.isEmpty {
                    lines += excerpt(stderr).map { $0.replacingOccurrences(of: "| ", with: "! ") }
                }
            case .retryScheduled:
                lines.append(
                    "\(at)↻ \(body["step"] ?? "") attempt \(body["next_attempt"] ?? "?") in \(body["delay_ms"] ?? "?") ms"
                )
            case .stepSkipped:
                lines.append("\(at)⤼ \(body["step"] ?? "") skipped: \(body["reason"] ?? "")")
            case .runStopping:
                lines.append("\(at)■ stopping \((body["steps"] as? [String])?.joined(separator: ", ") ?? "")")
            case .rollbackStarted:
                lines.append("\(at)↺ rolling back: \((body["steps"] as? [String])?.joined(separator: " → ") ?? "")")
            case .rollbackFinished, .stepFinished:
                continue
            case .runFinished:
                var line = "\(at)outcome: \(body["outcome"] ?? "?")"
                if let reason = body["reason"] as? String { line += " (\(reason))" }
                lines.append(line)
                if body["verification"] as? String == RunVerification.pending.rawValue,
                    let verify = body["verify"] as? [String: Any]
                {
                    var waits: [String] = []
                    if verify["needs_resolution"] as? Bool == true { waits.append("the alert to resolve") }
                    if verify["needs_probe"] as? Bool == true { waits.append("the probe to pass") }
                    lines.append(
                        "\(at)verification: pending until \(verify["deadline"] ?? "?"), waiting for \(waits.joined(separator: " and "))"
                    )
                }
            case .verifyProbeStarted:
                let command = (body["argv"] as? [String]).map { $0.map(ShellQuoting.quote).joined(separator: " ") }
                lines.append("\(at)▶ verify probe attempt \(body["attempt"] ?? 1): \(command ?? "shell script")")
            case .verifyProbeFinished:
                let passed = body["exit_code"] as? Int == 0 && body["timed_out"] as? Bool != true
                let verdict =
                    (body["error"] as? String)
                    ?? ((body["timed_out"] as? Bool) == true
                        ? "timed out" : (body["exit_code"] as? Int).map { "exit \($0)" } ?? "signal \(body["signal"] ?? "?")")
                lines.append(
                    "\(at)\(passed ? "✔" : "✘") verify probe attempt \(body["attempt"] ?? 1): \(verdict) in \(body["duration_ms"] ?? 0) ms")
                if let stderr = body["stderr"] as? String, !stderr.isEmpty, !passed {
                    lines += excerpt(stderr).map { $0.replacingOccurrences(of: "| ", with: "! ") }
                }
            case .runVerified:
                var line = "\(at)verification: verified by \((body["by"] as? [String])?.joined(separator: " and ") ?? "?")"
                if let resolve = body["time_to_resolve_ms"] as? Int {
                    line += String(format: "; resolved %.1fs after the alert started", Double(resolve) / 1000)
                }
                lines.append(line)
            case .runUnverified:
                lines.append(
                    "\(at)verification: unverified: \(body["reason"] ?? "?") (on_unverified: \(body["on_unverified"] ?? "?"))")
            case .runEscalated:
                lines.append(
                    "\(at)⚠ escalated (\((body["reasons"] as? [String])?.joined(separator: ", ") ?? "?")): \((body["details"] as? [String])?.joined(separator: "; ") ?? "")"
                )
            default:
                lines.append("\(at)\(record.kind) \(record.body)")
            }
        }
        if !records.contains(where: { $0.auditKind == .runFinished }) {
            lines.append("(no end record yet: the run is still going, or its Medic was stopped)")
        }
        return lines.joined(separator: "\n")
    }
}
