/// A runbook's steps as a dependency graph: who waits for whom, in what order they may start, which may run
/// together, and the order in which completed steps are rolled back.
public struct StepGraph: Sendable, Equatable {
    /// Step ids in list order.
    public let ids: [String]
    /// Direct dependencies of each step: its `needs`, or the step listed before it when `needs` is absent.
    public let dependencies: [String: [String]]
    /// An order in which every step comes after all its dependencies; ties keep list order.
    public let topologicalOrder: [String]
    /// Waves of steps that may run in parallel: each wave depends only on earlier waves.
    public let levels: [[String]]

    /// The static rollback order: reverse topological order. (At run time Medic rolls back in reverse order of
    /// completion, which is always consistent with this one.)
    public var rollbackOrder: [String] { topologicalOrder.reversed() }

    /// Steps that depend on `id` directly.
    public func dependents(of id: String) -> [String] {
        ids.filter { dependencies[$0, default: []].contains(id) }
    }

    /// Every step `id` waits for, directly or transitively.
    public func ancestors(of id: String) -> Set<String> {
        var seen: Set<String> = []
        var stack = dependencies[id, default: []]
        while let next = stack.popLast() {
            if seen.insert(next).inserted {
                stack.append(contentsOf: dependencies[next, default: []])
            }
        }
        return seen
    }

    /// A problem that prevents building the graph.
    public enum Problem: Sendable, Equatable {
        /// `steps[index]` reuses an id first used by `steps[firstIndex]`.
        case duplicateID(String, index: Int, firstIndex: Int)
        /// `steps[step].needs[need]` names no step.
        case unknownDependency(String, step: Int, need: Int)
        /// `steps[step].needs[need]` names the step itself.
        case selfDependency(step: Int, need: Int)
        /// A cycle, as step ids in order, the first repeated at the end; `step` is the first one in list order.
        case cycle([String], step: Int)
    }

    /// Every problem found while building a graph.
    public struct Problems: Error, Sendable, Equatable {
        public var items: [Problem]
    }

    /// Builds the graph of `steps`; steps with an empty id (already reported elsewhere) are ignored.
    public static func build(_ steps: [Step]) -> Result<StepGraph, Problems> {
        var problems: [Problem] = []
        var indexOf: [String: Int] = [:]
        var ids: [String] = []
        for (index, step) in steps.enumerated() where !step.id.isEmpty {
            if let first = indexOf[step.id] {
                problems.append(.duplicateID(step.id, index: index, firstIndex: first))
            } else {
                indexOf[step.id] = index
                ids.append(step.id)
            }
        }
        var dependencies: [String: [String]] = [:]
        var previous: String?
        for (index, step) in steps.enumerated() where !step.id.isEmpty {
            defer { previous = step.id }
            guard indexOf[step.id] == index else { continue }
            guard let needs = step.needs else {
                dependencies[step.id] = previous.map { [$0] } ?? []
                continue
            }
            var resolved: [String] = []
            for (needIndex, need) in needs.enumerated() {
                if need == step.id {
                    problems.append(.selfDependency(step: index, need: needIndex))
                } else if indexOf[need] == nil {
                    problems.append(.unknownDependency(need, step: index, need: needIndex))
                } else if !resolved.contains(need) {
                    resolved.append(need)
                }
            }
            dependencies[step.id] = resolved
        }
        for cycle in findCycles(ids: ids, dependencies: dependencies) {
            let first = cycle.dropLast().min { indexOf[$0]! < indexOf[$1]! }!
            problems.append(.cycle(rotate(cycle, toStartAt: first), step: indexOf[first]!))
        }
        if !problems.isEmpty { return .failure(Problems(items: problems)) }

        // Kahn's algorithm with in-degrees; a step's level is one more than its deepest dependency's.
        var dependents: [String: [String]] = [:]
        var inDegree: [String: Int] = [:]
        for id in ids {
            let needs = dependencies[id, default: []]
            inDegree[id] = needs.count
            for need in needs { dependents[need, default: []].append(id) }
        }
        var level: [String: Int] = [:]
        var queue = ids.filter { inDegree[$0] == 0 }
        var head = 0
        while head < queue.count {
            let id = queue[head]
            head += 1
            let next = (level[id] ?? 0) + 1
            for dependent in dependents[id, default: []] {
                level[dependent] = max(level[dependent] ?? 0, next)
                inDegree[dependent]! -= 1
                if inDegree[dependent] == 0 { queue.append(dependent) }
            }
        }
        // Sorting by (level, list position) is a topological order in which ties keep list order.
        let position = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
        let order = ids.sorted { (level[$0] ?? 0, position[$0]!) < (level[$1] ?? 0, position[$1]!) }
        var levels: [[String]] = []
        for id in order {
            let index = level[id] ?? 0
            while levels.count <= index { levels.append([]) }
            levels[index].append(id)
        }
        return .success(StepGraph(ids: ids, dependencies: dependencies, topologicalOrder: order, levels: levels))
    }

    /// One cycle per strongly connected component that has one (Tarjan), each as a closed path of ids.
    private static func findCycles(ids: [String], dependencies: [String: [String]]) -> [[String]] {
        var index = 0
        var indices: [String: Int] = [:]
        var lowlinks: [String: Int] = [:]
        var stack: [String] = []
        var onStack: Set<String> = []
        var components: [[String]] = []

        // Iterative Tarjan so a long chain of steps cannot overflow the stack.
        for root in ids where indices[root] == nil {
            var work: [(node: String, next: Int)] = [(root, 0)]
            indices[root] = index
            lowlinks[root] = index
            index += 1
            stack.append(root)
            onStack.insert(root)
            while var frame = work.popLast() {
                let edges = dependencies[frame.node, default: []]
                if frame.next < edges.count {
                    let target = edges[frame.next]
                    frame.next += 1
                    work.append(frame)
                    if indices[target] == nil {
                        indices[target] = index
                        lowlinks[target] = index
                        index += 1
                        stack.append(target)
                        onStack.insert(target)
                        work.append((target, 0))
                    } else if onStack.contains(target) {
                        lowlinks[frame.node] = min(lowlinks[frame.node]!, indices[target]!)
                    }
                    continue
                }
                if let parent = work.last {
                    lowlinks[parent.node] = min(lowlinks[parent.node]!, lowlinks[frame.node]!)
                }
                if lowlinks[frame.node] == indices[frame.node] {
                    var component: [String] = []
                    while let member = stack.popLast() {
                        onStack.remove(member)
                        component.append(member)
                        if member == frame.node { break }
                    }
                    if component.count > 1 { components.append(component) }
                }
            }
        }
        return components.map { cyclePath(in: Set($0), dependencies: dependencies, ids: ids) }
    }

    /// A closed path through a strongly connected component, following `needs` edges from its first-listed step.
    private static func cyclePath(in members: Set<String>, dependencies: [String: [String]], ids: [String]) -> [String]
    {
        let start = ids.first { members.contains($0) }!
        // Breadth-first search for the shortest way back to `start`.
        var previous: [String: String] = [:]
        var queue = [start]
        var head = 0
        while head < queue.count {
            let node = queue[head]
            head += 1
            for next in dependencies[node, default: []] where members.contains(next) {
                if next == start {
                    var path = [node]
                    var cursor = node
                    while cursor != start, let before = previous[cursor] {
                        path.append(before)
                        cursor = before
                    }
                    return [start] + path.reversed().dropFirst() + [start]
                }
                if previous[next] == nil, next != start {
                    previous[next] = node
                    queue.append(next)
                }
            }
        }
        return [start, start]
    }

    private static func rotate(_ cycle: [String], toStartAt first: String) -> [String] {
        let open = Array(cycle.dropLast())
        guard let index = open.firstIndex(of: first) else { return cycle }
        let rotated = Array(open[index...] + open[..<index])
        return rotated + [first]
    }
}
