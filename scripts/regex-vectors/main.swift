// Runs Go's regular-expression test vectors through Medic's regex engine, outside SwiftPM (see
// scripts/regex-vectors.sh). Usage: regex-vectors FILE [EVERY]
import Foundation

let arguments = CommandLine.arguments
guard arguments.count >= 2, let data = FileManager.default.contents(atPath: arguments[1]) else {
    FileHandle.standardError.write(Data("usage: regex-vectors FILE [EVERY]\n".utf8))
    exit(2)
}
let every = arguments.count > 2 ? Int(arguments[2]) ?? 1 : 1
let started = Date()
let outcome = GoRegexVectors.run(bytes: [UInt8](data), every: every)
for failure in outcome.failures.prefix(50) { print(failure) }
print(
    "\(arguments[1]): \(outcome.cases) cases, \(outcome.skipped) skipped (as Go skips them), "
        + "\(outcome.failures.count) failures, \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
exit(outcome.failures.isEmpty ? 0 : 1)
