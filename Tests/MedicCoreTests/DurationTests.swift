import MedicCore
import Testing

@Suite struct DurationTests {
    @Test(
        "parses DSL durations",
        arguments: [
            ("500ms", 500), ("10s", 10_000), ("5m", 300_000), ("1h", 3_600_000), ("2d", 172_800_000),
            ("1h30m", 5_400_000), ("1m0s", 60_000), ("0s", 0), (" 15s ", 15_000),
        ] as [(String, Int64)])
    func parses(text: String, milliseconds: Int64) {
        #expect(Duration(dsl: text)?.milliseconds == milliseconds)
    }

    @Test(
        "rejects what is not a duration",
        arguments: ["", "10", "s", "10 s", "1.5s", "-5s", "5 minutes", "5sec", "1w", "99999999999999999999s"])
    func rejects(text: String) {
        #expect(Duration(dsl: text) == nil)
    }

    @Test(
        "prints the shortest spelling",
        arguments: [(5_400_000, "1h30m"), (500, "500ms"), (0, "0s"), (61_000, "1m1s")] as [(Int64, String)])
    func prints(milliseconds: Int64, text: String) {
        #expect(Duration.milliseconds(milliseconds).dslDescription == text)
    }
}
