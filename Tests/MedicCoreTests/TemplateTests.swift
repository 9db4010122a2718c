import MedicCore
import Testing

@Suite struct TemplateTests {
    @Test("splits literal text and references")
    func segments() {
        let (template, errors) = Template.parse("--vacuum-time={{ params.keep_days }}d")
        #expect(errors.isEmpty)
        #expect(template.segments == [.literal("--vacuum-time="), .reference(.param("keep_days")), .literal("d")])
    }

    @Test(
        "parses every kind of reference",
        arguments: [
            ("params.instance", Reference.param("instance")),
            ("alert.labels.severity", .alertLabel("severity")),
            ("alert.annotations.summary", .alertAnnotation("summary")),
            ("alert.fingerprint", .alertFingerprint),
            ("run.id", .runID),
            ("steps.vacuum-journal.exit_code", .stepOutput(step: "vacuum-journal", field: .exitCode)),
            ("steps.probe.stdout", .stepOutput(step: "probe", field: .stdout)),
            ("steps.probe.status", .stepOutput(step: "probe", field: .status)),
        ])
    func references(text: String, expected: Reference) {
        let (template, errors) = Template.parse("{{\(text)}}")
        #expect(errors.isEmpty)
        #expect(template.references == [expected])
    }

    @Test("a quoted literal hole writes braces for tools like docker --format")
    func literalBraces() {
        let (template, errors) = Template.parse("--format={{ '{{.State.Status}}' }}")
        #expect(errors.isEmpty)
        #expect(template.isLiteral)
        #expect(template.segments == [.literal("--format={{.State.Status}}")])
    }

    @Test(
        "reports broken holes with their offset",
        arguments: [
            ("a {{ params.x", 2), ("{{ }}", 0), ("x{{ foo.bar }}", 1), ("{{ params.x | upper }}", 0),
            ("{{ steps.a.out }}", 0), ("{{ alert.labels.9x }}", 0), ("{{ run.name }}", 0),
        ])
    func errors(text: String, offset: Int) {
        let (_, errors) = Template.parse(text)
        #expect(errors.count == 1)
        #expect(errors.first?.offset == offset)
    }
}
