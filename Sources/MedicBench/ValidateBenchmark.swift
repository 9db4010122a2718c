import Foundation
import MedicCore
import MedicStore
import Yams

/// `medic bench validate`: parsing plus validation of N runbook files against a YAML-only baseline.
public struct ValidateBenchmark: Sendable {
    /// Directory of runbooks to copy.
    public var runbooks: String
    /// Files validated per repetition.
    public var count: Int
    /// Repetitions; the median is reported.
    public var repetitions: Int
    /// One JSON object instead of a table.
    public var json: Bool

    public init(runbooks: String, count: Int, repetitions: Int, json: Bool) {
        self.runbooks = runbooks
        self.count = count
        self.repetitions = repetitions
        self.json = json
    }

    public func run() throws {
        let templates = try RunbookDirectory().load([runbooks]).sources
        guard !templates.isEmpty else { throw BenchFailure("no runbooks under \(runbooks)") }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("medic-bench-\(getpid())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        var bytes = 0
        for index in 0..<count {
            let source = templates[index % templates.count]
            // Give every copy its own id so the cross-file duplicate check is exercised but stays quiet.
            let text = String(decoding: source.data, as: UTF8.self).replacingOccurrences(
                of: "runbook: \(source.runbook?.id ?? "")", with: "runbook: \(source.runbook?.id ?? "x")-\(index)")
            bytes += text.utf8.count
            try text.write(to: scratch.appendingPathComponent("rb-\(index).yaml"), atomically: false, encoding: .utf8)
        }
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: scratch.path)) ?? []).sorted().map {
            scratch.path + "/" + $0
        }

        var medicTimes: [Double] = []
        var yamlTimes: [Double] = []
        var errors = 0
        for _ in 0..<repetitions {
            // Interleave so drift on a shared machine hits both figures alike.
            yamlTimes.append(
                try BenchClock.time {
                    for file in files {
                        let text = try String(contentsOfFile: file, encoding: .utf8)
                        _ = try Yams.compose(yaml: text)
                    }
                })
            medicTimes.append(
                try BenchClock.time {
                    let loaded = try RunbookDirectory().load([scratch.path])
                    errors = loaded.diagnostics.errorCount
                })
        }
        let medic = BenchClock.median(medicTimes)
        let yaml = BenchClock.median(yamlTimes)
        let ratio = medic / max(yaml, 1e-9)
        if json {
            print(
                #"{"benchmark":"validate","files":\#(count),"bytes":\#(bytes),"medic_seconds":\#(medic),"yaml_compose_seconds":\#(yaml),"ratio":\#(ratio),"errors":\#(errors)}"#
            )
        } else {
            print("figure                                  medic      baseline   ratio")
            print(
                String(
                    format:
                        "parse+validate %5d files (%4d KiB)   %7.3fs   %7.3fs   %.2fx  (baseline: Yams.compose only)",
                    count, bytes / 1024, medic, yaml, ratio))
            print("median of \(repetitions); \(errors) errors reported")
        }
    }
}
