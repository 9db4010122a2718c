import Foundation
import Hummingbird
import MedicCore
import MedicExecution
import MedicServer
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// One real server on 127.0.0.1 hammered with concurrent alerts, resolutions, approvals and cancels.
@Suite struct ServerStressTests {
    static func runbook(_ text: String) throws -> Runbook {
        try #require(RunbookSource.check(data: Data(text.utf8), path: "r.yaml").runbook)
    }

    @Test("stress over HTTP: every run ends with one run.finished, none executes after a cancel, nothing leaks")
    func hammer() async throws {
        let audit = InMemoryAuditLog()
        let careful = try Self.runbook(
            """
            runbook: careful
            params:
              host: { type: string, from: alert.labels.instance, pattern: '[a-z0-9]+' }
            triggers:
              - match: ['alertname="Down"']
            policy:
              mode: approval
              concurrency: 'c:{{ params.host }}'
              queue: true
            steps:
              - id: fix
                run: [sleep, '0.01']
                timeout: 5s
            """)
        let eager = try Self.runbook(
            """
            runbook: eager
            params:
              host: { type: string, from: alert.labels.instance, pattern: '[a-z0-9]+' }
            triggers:
              - match: ['alertname="Down"']
            policy:
              concurrency: 'e:{{ params.host }}'
              queue: true
            steps:
              - id: fix
                run: ['true']
                timeout: 5s
            """)
        let dispatcher = Dispatcher(
            runbooks: [careful, eager], audit: audit, configuration: .init(maxConcurrentRuns: 3, queueCapacity: 6),
            environment: ["PATH": "/usr/bin:/bin"])
        let server = IntakeServer(
            dispatcher: dispatcher, settings: .init(apiToken: "api"), digest: { "digest-\($0.count)" })
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: server.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) })
        let known = RunIDs()
        let statuses = StatusCounts()
        let hosts = ["h1", "h2", "h3"]
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            group.addTask { await dispatcher.run() }
            var iterator = ports.makeAsyncIterator()
            let base = "http://127.0.0.1:\(await iterator.next() ?? 0)"
            let session = URLSession(configuration: .ephemeral)
            func send(_ path: String, _ body: String = "{}", token: String? = nil) async throws -> (Int, Data) {
                var request = URLRequest(url: URL(string: base + path)!)
                request.httpMethod = "POST"
                request.httpBody = Data(body.utf8)
                if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
                let (data, response) = try await session.data(for: request)
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                await statuses.add(path.hasPrefix("/v1/alerts") ? "alert \(status)" : "run \(status)")
                return (status, data)
            }
            try await withThrowingTaskGroup(of: Void.self) { workers in
                for worker in 0..<6 {
                    workers.addTask {
                        for step in 0..<400 {
                            let host = hosts[(worker + step) % hosts.count]
                            switch (worker * 7 + step * 13) % 10 {
                            case 0..<4:
                                let body =
                                    #"{"alerts":[{"status":"firing","startsAt":"2026-11-29T00:00:\#(String(format: "%02d", step % 60)).\#(worker)Z","labels":{"alertname":"Down","instance":"\#(host)","n":"\#(worker)-\#(step)"}}]}"#
                                let (status, data) = try await send("/v1/alerts/alertmanager", body)
                                if status == 202,
                                    let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
                                    let alerts = object["alerts"] as? [[String: Any]]
                                {
                                    let ids = alerts.flatMap { ($0["decisions"] as? [[String: Any]]) ?? [] }
                                        .compactMap { $0["run_id"] as? String }
                                    await known.add(ids)
                                }
                            case 4:
                                // Resolves the alert this worker sent one step earlier (if that step sent one).
                                let previous = hosts[(worker + step - 1) % hosts.count]
                                let body =
                                    #"{"alerts":[{"status":"resolved","labels":{"alertname":"Down","instance":"\#(previous)","n":"\#(worker)-\#(step - 1)"}}]}"#
                                _ = try await send("/v1/alerts/alertmanager", body)
                            case 5..<8:
                                if let runID = await known.random() {
                                    _ = try await send("/v1/runs/\(runID)/approve", token: "api")
                                }
                            default:
                                if let runID = await known.random() {
                                    _ = try await send("/v1/runs/\(runID)/cancel", token: "api")
                                }
                            }
                        }
                    }
                }
                try await workers.waitForAll()
            }
            // Whatever still waits for an approval is cancelled through the API.
            for runID in await known.all { _ = try await send("/v1/runs/\(runID)/cancel", token: "api") }
            for _ in 0..<400 where await dispatcher.counts.pending > 0 { try await Task.sleep(for: .milliseconds(25)) }
            group.cancelAll()
        }
        let counts = await statuses.counts
        #expect(counts.keys.allSatisfy { ["alert 202", "run 202", "run 404", "run 429"].contains($0) }, "\(counts)")
        #expect(counts.values.reduce(0, +) >= 2_400)
        #expect(await dispatcher.counts.pending == 0)
        #expect(await dispatcher.held.activeRuns == 0)
        #expect(await dispatcher.held.locks == 0)
        RunEnds.expectEveryRunEndsOnce(await audit.events)
    }
}

/// HTTP answers by kind of request and status.
actor StatusCounts {
    private(set) var counts: [String: Int] = [:]
    func add(_ key: String) { counts[key, default: 0] += 1 }
}
