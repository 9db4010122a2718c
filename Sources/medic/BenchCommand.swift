import ArgumentParser
import Foundation
import MedicCore
import MedicStore
import Yams

/// `medic bench validate`: hidden benchmark of parsing plus validation against a YAML-only baseline.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks (for developers).",
        shouldDisplay: false,
        subcommands: [ValidateBench.self]
    )
}

struct ValidateBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Parse and validate N runbook files copied from a directory; compare with YAML parsing alone."
    )

    @Option(help: "Directory of runbooks to copy.")
    var runbooks = "runbooks"

    @Option(help: "How many files to validate per repetition.")
    var count = 1000

    @Option(help: "Repetitions; the median is reported.")
    var repetitions = 5

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    func run() throws {
        let templates = try RunbookDirectory().load([runbooks]).sources
        guard !templates.isEmpty else { throw ValidationError("no runbooks under \(runbooks)") }
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
        let files = RunbookDirectoryListing.files(in: scratch.path)

        var medicTimes: [Double] = []
        var yamlTimes: [Double] = []
        var errors = 0
        for _ in 0..<repetitions {
            // Interleave so drift on a shared machine hits both figures alike.
            yamlTimes.append(
                try Self.time {
                    for file in files {
                        let text = try String(contentsOfFile: file, encoding: .utf8)
                        _ = try Yams.compose(yaml: text)
                    }
                })
            medicTimes.append(
                try Self.time {
                    let loaded = try RunbookDirectory().load([scratch.path])
                    errors = loaded.diagnostics.errorCount
                })
        }
        let medic = Self.median(medicTimes)
        let yaml = Self.median(yamlTimes)
        let ratio = medic / max(yaml, 1e-9)
        if format == .json {
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

    static func time(_ body: () throws -> Void) throws -> Double {
        let start = ContinuousClock.now
        try body()
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted[sorted.count / 2]
    }
}

enum RunbookDirectoryListing {
    static func files(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted().map { directory + "/" + $0 }
    }
}
