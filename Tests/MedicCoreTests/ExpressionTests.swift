import MedicCore
import Testing

@Suite struct ExpressionTests {
    static let types: [Reference: ValueType] = [
        .stepOutput(step: "probe", field: .exitCode): .int,
        .stepOutput(step: "probe", field: .stdout): .string,
        .stepOutput(step: "probe", field: .status): .string,
        .param("hosts"): .list,
        .param("wait"): .duration,
        .param("force"): .bool,
        .alertLabel("severity"): .string,
    ]

    static func check(_ text: String) -> [ExpressionError] {
        switch ExpressionParser.parse(text) {
        case .success(let expression): ExpressionTypeChecker.check(expression, typeOf: { types[$0] })
        case .failure(let error): [error]
        }
    }

    @Test(
        "accepts well-typed conditions",
        arguments: [
            "steps.probe.exit_code == 0",
            "steps.probe.exit_code != 0 && !params.force",
            "steps.probe.stdout contains 'active' || params.force",
            "steps.probe.stdout matches '(ReplicaSet|StatefulSet)/.+'",
            "alert.labels.severity in ['warning', 'critical']",
            "steps.probe.stdout in params.hosts",
            "params.hosts contains 'db1'",
            "params.wait >= 30s",
            "steps.probe.exit_code in [0, 75]",
            "(steps.probe.exit_code > -1) && steps.probe.status == 'succeeded'",
            "true",
        ])
    func valid(text: String) {
        #expect(Self.check(text).isEmpty)
    }

    @Test(
        "rejects ill-typed or malformed conditions",
        arguments: [
            ("steps.probe.exit_code = 0", 22),
            ("steps.probe.exit_code == 'zero'", 0),
            ("steps.probe.stdout > 3", 0),
            ("steps.probe.stdout", 0),
            ("params.force && 1", 16),
            ("steps.probe.stdout matches '(open'", 28),
            ("steps.probe.status == 'succeded'", 22),
            ("steps.probe.exit_code == ", 25),
            ("foo == 1", 0),
            ("(steps.probe.exit_code == 0", 27),
            ("steps.probe.stdout contains 3", 28),
            ("params.hosts in ['a']", 0),
            ("'unterminated", 0),
            ("a & b", 2),
        ])
    func invalid(text: String, offset: Int) {
        let errors = Self.check(text)
        #expect(!errors.isEmpty)
        #expect(errors.first?.offset == offset)
    }

    @Test("deep nesting is refused, not a stack overflow")
    func deepNesting() {
        let text = String(repeating: "(", count: 10_000) + "true" + String(repeating: ")", count: 10_000)
        #expect(!Self.check(text).isEmpty)
        let negations = String(repeating: "!", count: 10_000) + "true"
        #expect(!Self.check(negations).isEmpty)
    }
}
