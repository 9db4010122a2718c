import Logging
import MedicServer
import Synchronization
import Testing

/// Text-format log lines: values from alerts cannot forge fields or lines.
@Suite struct MedicLogHandlerTests {
    final class Lines: Sendable {
        let all = Mutex<[String]>([])
    }

    @Test("a label value with a newline, a quote or '=' stays inside one quoted field of one line")
    func textLinesCannotBeForged() {
        let lines = Lines()
        var handler = MedicLogHandler(label: "t", format: .text, sink: { line in lines.all.withLock { $0.append(line) } })
        handler.metadata["alertname"] = .string("Down\n2026-01-01T00:00:00.000Z error forged=1")
        handler.metadata["plain"] = .string("db1")
        handler.metadata["c1"] = .string("a\u{9B}31mb\u{2028}c")
        let logger = Logger(label: "t") { _ in handler }
        logger.info("decision for \u{1B}[31mred\nsecond line")
        let written = lines.all.withLock { $0 }
        #expect(written.count == 1)
        let line = written[0]
        #expect(!line.contains("\n"))
        #expect(!line.contains("\u{1B}"))
        #expect(line.contains(#"alertname="Down\n2026-01-01T00:00:00.000Z error forged=1""#))
        #expect(line.contains("plain=db1"))
        #expect(line.contains(#"c1="a\u009b31mb\u2028c""#))
        #expect(!line.unicodeScalars.contains { $0.value == 0x9B || $0 == "\u{2028}" })
        #expect(line.contains(#"decision for \u001b[31mred\nsecond line"#))
    }
}
