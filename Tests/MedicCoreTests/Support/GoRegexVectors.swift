import Foundation

#if canImport(MedicCore)
    @testable import MedicCore
#endif

/// Runs Go's regular-expression test vectors (`re2-search.txt`, `re2-exhaustive.txt`, from Go's
/// `src/regexp/testdata`) through `GoRegex`, as Go's `exec_test.go` reads them: for each pattern and input,
/// the leftmost-first match with submatches, searched (`partial`) and anchored (`full`, the pattern run as
/// `\A(?:re)\z`), and `wholeMatch` must agree with the full column. The two "longest" columns are POSIX
/// semantics, which neither Go's default mode nor Medic uses. Also compiled on its own by
/// `scripts/regex-vectors.sh`, which runs the whole exhaustive file.
struct GoRegexVectors {
    struct Outcome {
        var cases = 0
        var skipped = 0
        var failures: [String] = []
    }

    /// `every`: run one block of strings in every `every` (sampling a large file).
    static func run(_ text: String, every: Int = 1) -> Outcome {
        run(bytes: Array(text.utf8), every: every)
    }

    static func run(bytes text: [UInt8], every: Int = 1) -> Outcome {
        var outcome = Outcome()
        var inputs: [[UInt8]] = []
        var remaining: ArraySlice<[UInt8]> = []
        var readingStrings = false
        var block = -1
        var regex: GoRegex?
        var full: GoRegex?
        var pattern = ""
        var patternSkipped = false
        var lineNumber = 0
        // By bytes: an input may start with a combining mark, which a Character-wise split or prefix test
        // would glue to the quote.
        let stringsHeader = Array("strings".utf8)
        let regexpsHeader = Array("regexps".utf8)
        // Lines found by hand: splitting 59 MB into an array of slices is most of the cost in a debug build.
        text.withUnsafeBufferPointer { buffer in
            var lineStart = 0
            while lineStart < buffer.count {
                let rest = buffer.count - lineStart
                let found = memchr(buffer.baseAddress! + lineStart, 0x0A, rest)
                let lineEnd =
                    found.map {
                        lineStart
                            + (UnsafePointer($0.assumingMemoryBound(to: UInt8.self)) - (buffer.baseAddress! + lineStart))
                    } ?? buffer.count
                let rawLine = UnsafeBufferPointer(rebasing: buffer[lineStart..<lineEnd])
                lineStart = lineEnd + 1
                lineNumber += 1
                guard let first = rawLine.first, first != UInt8(ascii: "#") else { continue }
                let isQuoted = first == UInt8(ascii: "\"")
                if (first >= 0x41 && first <= 0x5A) || (first >= 0x61 && first <= 0x7A) {
                    if rawLine.elementsEqual(stringsHeader) {
                        readingStrings = true
                        inputs = []
                        block += 1
                    } else if rawLine.elementsEqual(regexpsHeader) {
                        readingStrings = false
                    }
                    continue
                }
                // Blocks left out of the sample are skipped without reading them.
                let inBlock = block % every == 0
                guard inBlock else { continue }
                let line = String(decoding: rawLine, as: UTF8.self)
                if isQuoted {
                    guard let bytes = decodeGoString(line) else {
                        outcome.failures.append("line \(lineNumber): cannot read \(line)")
                        continue
                    }
                    if readingStrings {
                        inputs.append(bytes)
                        continue
                    }
                    remaining = inputs[...]
                    pattern = String(decoding: bytes, as: UTF8.self)
                    patternSkipped = false
                    do {
                        regex = try GoRegex(pattern)
                        full = try GoRegex("\\A(?:" + pattern + ")\\z")
                    } catch {
                        regex = nil
                        full = nil
                        if pattern.contains("\\C") {
                            patternSkipped = true
                        } else {
                            outcome.failures.append("line \(lineNumber): `\(pattern)` does not compile: \(error)")
                        }
                    }
                    continue
                }
                // A result line for the next input.
                guard !remaining.isEmpty else {
                    outcome.failures.append("line \(lineNumber): out of sync, no input left")
                    continue
                }
                let input = remaining.removeFirst()
                outcome.cases += 1
                guard let regex, let full else {
                    if patternSkipped { outcome.skipped += 1 }
                    continue
                }
                if pattern.contains("\\B") && input.contains(where: { $0 >= 0x80 }) {
                    // RE2 tests \B at every byte, Go (and Medic) between characters only; Go skips these too.
                    outcome.skipped += 1
                    continue
                }
                let fields = line.split(separator: ";", omittingEmptySubsequences: false).map(String.init)
                guard fields.count == 4 else {
                    outcome.failures.append("line \(lineNumber): expected 4 results")
                    continue
                }
                let shown = String(decoding: input, as: UTF8.self).debugDescription
                input.withUnsafeBufferPointer { bytes in
                    let searched = regex.firstMatch(bytes: bytes)
                    if searched != parseResult(fields[1]) {
                        outcome.failures.append(
                            "line \(lineNumber): `\(pattern)` search \(shown) = \(format(searched)), want \(fields[1])")
                    }
                    let anchored = full.firstMatch(bytes: bytes)
                    if anchored != parseResult(fields[0]) {
                        outcome.failures.append(
                            "line \(lineNumber): `\(pattern)` full \(shown) = \(format(anchored)), want \(fields[0])")
                    }
                    if regex.matches(bytes: bytes) != (fields[1] != "-") {
                        outcome.failures.append(
                            "line \(lineNumber): `\(pattern)` matches \(shown) = \(fields[1] == "-"), want \(fields[1] != "-")"
                        )
                    }
                    if let nfa = BitParallelNFA(regex.program),
                    nfa.matches(bytes, from: 0, seeds: [Int32(regex.program.start)]) != (fields[0] != "-")
                {
                    outcome.failures.append("line \(lineNumber): `\(pattern)` bit-parallel NFA \(shown) disagrees")
                }
                if regex.wholeMatch(bytes: bytes) != (fields[0] != "-") {
                        outcome.failures.append(
                            "line \(lineNumber): `\(pattern)` wholeMatch \(shown) = \(fields[0] == "-"), want \(fields[0] != "-")"
                        )
                    }
                }
            }
        }
        return outcome
    }

    static func format(_ slots: [Int]?) -> String {
        guard let slots else { return "-" }
        return stride(from: 0, to: slots.count, by: 2).map { slots[$0] < 0 ? "-" : "\(slots[$0])-\(slots[$0 + 1])" }
            .joined(separator: " ")
    }

    /// `-` or `0-1 2-3 - 4-5`, as flattened slots (-1 for a group that did not take part).
    static func parseResult(_ field: String) -> [Int]? {
        if field == "-" { return nil }
        var slots: [Int] = []
        for pair in field.split(separator: " ") {
            if pair == "-" {
                slots += [-1, -1]
            } else {
                let bounds = pair.split(separator: "-").compactMap { Int($0) }
                slots += bounds
            }
        }
        return slots
    }

    /// A Go double-quoted string literal, as bytes (`\x` and octal escapes are bytes; `\u` are UTF-8).
    static func decodeGoString(_ literal: String) -> [UInt8]? {
        let scalars = Array(literal.unicodeScalars)
        guard scalars.count >= 2, scalars.first == "\"", scalars.last == "\"" else { return nil }
        return try? GoStringLiteral.bytes(scalars[1..<(scalars.count - 1)], column: 1)
    }
}
