// Compares GoRegex with Go's verdicts written by gen.go (see README.md). Usage: regex-differential CASES [MAX]
// Prints each discrepancy (pattern, input, Go's answer, ours) and exits 1 when there is any.
import Foundation

func unhex(_ text: Substring) -> [UInt8] {
    if text == "-" { return [] }
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

func show(_ bytes: [UInt8]) -> String {
    var text = ""
    for byte in bytes {
        if byte >= 0x20 && byte < 0x7F && byte != 0x5C { text.append(Character(Unicode.Scalar(byte))) }
        else { text += String(format: "\\x%02x", byte) }
    }
    // Decode valid UTF-8 runs for readability.
    if let decoded = String(validating: bytes, as: UTF8.self), decoded.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) {
        return decoded.count > 300 ? String(decoded.prefix(300)) + "…(\(decoded.count))" : decoded
    }
    return text
}

let arguments = CommandLine.arguments
guard arguments.count >= 2, let data = FileManager.default.contents(atPath: arguments[1]) else {
    FileHandle.standardError.write(Data("usage: regex-differential CASES [MAX-REPORTS]\n".utf8))
    exit(2)
}
let maxReports = arguments.count > 2 ? Int(arguments[2]) ?? 100 : 100
var patterns = 0, inputs = 0, failures = 0
var current: GoRegex?
var currentPattern = ""
var reported = Set<String>()

var known = 0

/// Kinds of difference that are understood and left as they are (see README.md); counted, not failures.
let knownKinds: Set<String> = ["limit", "quirk"]

func report(_ kind: String, _ message: String) {
    if knownKinds.contains(kind) { known += 1 } else { failures += 1 }
    // One report per pattern and kind keeps the output readable.
    guard reported.insert(kind + currentPattern).inserted, reported.count <= maxReports else { return }
    print("\(kind): /\(show(Array(currentPattern.utf8)))/ \(message)")
}

/// Go's size and depth limits, reported apart from the rest.
let limitCodes: Set<String> = ["expression nests too deeply", "expression too large", "regexp/syntax: internal error"]

/// Known and intended: `(?<name>…)` is Go >= 1.22 syntax, accepted here; Go 1.19 calls every `(?<` a Perl
/// syntax error, while Go 1.22 (and this engine) parses `(?<=…)` and `(?<!…)` as (invalid) named captures.
func knownNewerSyntax(_ goCode: String) -> Bool {
    goCode == "invalid or unsupported Perl syntax" && currentPattern.contains("(?<")
}

for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
    let fields = line.split(separator: " ")
    if fields[0] == "P" {
        patterns += 1
        currentPattern = String(decoding: unhex(fields[1]), as: UTF8.self)
        current = nil
        let compiled: Result<GoRegex, GoRegex.SyntaxError>
        do throws(GoRegex.SyntaxError) { compiled = .success(try GoRegex(currentPattern)) } catch { compiled = .failure(error) }
        switch (fields[2], compiled) {
        case ("ok", .success(let regex)):
            current = regex
            let names = fields[4].split(separator: ",", omittingEmptySubsequences: false)
                .map { String(decoding: unhex($0), as: UTF8.self) }
            let ours = regex.captureNames.dropFirst().map { $0 ?? "" }
            if regex.captureCount != Int(fields[3])! || (regex.captureCount > 0 && ours != names) {
                report("captures", "Go \(fields[3]) \(names), ours \(regex.captureCount) \(ours)")
            }
        case ("ok", .failure(let error)) where limitCodes.contains(error.code.rawValue):
            report("limit", "Go accepts, ours: \(error.code.rawValue)")
        case ("ok", .failure(let error)):
            report("rejected", "Go accepts, ours: \(error.code.rawValue)")
        case ("err", .success):
            let code = String(decoding: unhex(fields[3]), as: UTF8.self)
            if knownNewerSyntax(code) { continue }
            report(limitCodes.contains(code) ? "limit" : "accepted", "Go: \(code)")
        case ("err", .failure(let error)):
            let code = String(decoding: unhex(fields[3]), as: UTF8.self)
            if knownNewerSyntax(code) { continue }
            if limitCodes.contains(code) || limitCodes.contains(error.code.rawValue), error.code.rawValue != code {
                report("limit", "Go: \(code), ours: \(error.code.rawValue)")
            } else if error.code.rawValue != code { report("code", "Go: \(code), ours: \(error.code.rawValue) `\(show(Array(error.fragment.utf8)))`") }
        default:
            fatalError("bad line \(line)")
        }
    } else if fields[0] == "I", let regex = current {
        inputs += 1
        let input = unhex(fields[1])
        let whole = input.withUnsafeBufferPointer { regex.wholeMatch(bytes: $0) }
        if whole != (fields[2] == "1") {
            // Go's one-pass matcher compares a leading literal as bytes, and writes a surrogate (`\x{D800}`) as
            // U+FFFD's bytes, so there it matches "\u{FFFD}"; Go's other matchers (and this engine) do not.
            let surrogateLiteral = currentPattern.lowercased().contains(#/\\x\{0*d[89a-f][0-9a-f]{2}\}/#)
            report(surrogateLiteral ? "quirk" : "whole", "input \"\(show(input))\": Go \(fields[2]), ours \(whole)")
        }
        let first = input.withUnsafeBufferPointer { regex.firstMatch(bytes: $0) }
        let expected: [Int]? = fields[3] == "nil" ? nil : fields[3].split(separator: ",").map { Int($0)! }
        if first != expected {
            report("first", "input \"\(show(input))\": Go \(expected.map { "\($0)" } ?? "nil"), ours \(first.map { "\($0)" } ?? "nil")")
        }
    }
}
print("\(arguments[1]): \(patterns) patterns, \(inputs) inputs, \(failures) discrepancies, \(known) known (limit, quirk)")
exit(failures == 0 ? 0 : 1)
