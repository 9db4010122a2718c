import Foundation
import MedicServer
import Testing

@Suite struct ServeConfigurationTests {
    @Test("the shipped example configuration loads")
    func example() throws {
        let configuration = try ServeConfiguration.load(
            path: ServerFixtures.packageRoot.appendingPathComponent("examples/medic.yaml").path
        ).get()
        #expect(configuration.listen == "127.0.0.1:9095")
        #expect(configuration.maxBody == 1_048_576)
        #expect(configuration.shadow == false)
        #expect(configuration.intakeTokenFile == nil)
        #expect(configuration.maxQueuedRuns == 256)
    }

    @Test("unknown keys and bad values are reported with their place")
    func problems() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("medic-config-\(UUID()).yaml").path
        try "listen: 127.0.0.1:1\nmax_bdy: 3\nmax_concurrent_runs: many\nshadow: sometimes\n".write(
            toFile: path, atomically: true, encoding: .utf8)
        guard case .failure(let problems) = ServeConfiguration.load(path: path) else {
            Issue.record("expected problems")
            return
        }
        #expect(problems.messages.count == 3)
        #expect(problems.messages[0] == "\(path):2:1: unknown setting 'max_bdy'; did you mean 'max_body'?")
        #expect(problems.messages[1].contains(":3:1: 'max_concurrent_runs' must be a positive whole number"))
        #expect(problems.messages[2].contains(":4:1: 'shadow' must be true or false"))
    }
}
