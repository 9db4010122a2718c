import MedicCore
import Testing

@Suite struct StepGraphTests {
    static func step(_ id: String, needs: [String]? = nil) -> Step {
        Step(id: id, body: StepBody(action: .run([Template(literal: "true")])), needs: needs)
    }

    static func graph(_ steps: [Step]) throws -> StepGraph {
        try StepGraph.build(steps).get()
    }

    @Test("without needs, each step depends on the one listed before it")
    func listOrder() throws {
        let graph = try Self.graph([Self.step("a"), Self.step("b"), Self.step("c")])
        #expect(graph.dependencies == ["a": [], "b": ["a"], "c": ["b"]])
        #expect(graph.topologicalOrder == ["a", "b", "c"])
        #expect(graph.levels == [["a"], ["b"], ["c"]])
        #expect(graph.rollbackOrder == ["c", "b", "a"])
    }

    @Test("needs: [] starts at once; independent steps share a level")
    func parallel() throws {
        let graph = try Self.graph([
            Self.step("probe"), Self.step("logs", needs: []), Self.step("owner", needs: []),
            Self.step("fix", needs: ["probe", "logs", "owner"]), Self.step("verify"),
        ])
        #expect(graph.levels == [["probe", "logs", "owner"], ["fix"], ["verify"]])
        #expect(graph.ancestors(of: "verify") == ["fix", "probe", "logs", "owner"])
        #expect(graph.dependents(of: "probe") == ["fix"])
    }

    @Test("a later step may be needed by an earlier one; order follows needs")
    func forwardNeeds() throws {
        let graph = try Self.graph([Self.step("a", needs: ["b"]), Self.step("b", needs: [])])
        #expect(graph.topologicalOrder == ["b", "a"])
    }

    @Test("cycles are named in full, starting at the first listed step")
    func cycles() {
        let result = StepGraph.build([
            Self.step("a", needs: ["c"]), Self.step("b", needs: ["a"]), Self.step("c", needs: ["b"]),
            Self.step("d", needs: ["e"]), Self.step("e", needs: ["d"]),
        ])
        guard case .failure(let problems) = result else {
            Issue.record("expected a failure")
            return
        }
        #expect(problems.items == [.cycle(["a", "c", "b", "a"], step: 0), .cycle(["d", "e", "d"], step: 3)])
    }

    @Test("unknown, self and duplicate ids are reported together")
    func problems() {
        let result = StepGraph.build([Self.step("a", needs: ["zz", "a"]), Self.step("a")])
        guard case .failure(let problems) = result else {
            Issue.record("expected a failure")
            return
        }
        #expect(
            problems.items == [
                .duplicateID("a", index: 1, firstIndex: 0), .unknownDependency("zz", step: 0, need: 0),
                .selfDependency(step: 0, need: 1),
            ])
    }

    @Test("a 10,000-step chain builds without deep recursion")
    func longChain() throws {
        let steps = (0..<10_000).map { Self.step("s\($0)") }
        let graph = try Self.graph(steps)
        #expect(graph.topologicalOrder.count == 10_000)
    }
}
