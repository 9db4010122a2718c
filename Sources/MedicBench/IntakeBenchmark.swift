import Foundation
import Hummingbird
import MedicCore
import MedicExecution
import MedicServer
import MedicStore

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `medic bench intake`: alerts posted over loopback to a real server with a durable audit log, against the
/// same server's static endpoint (the HTTP ceiling), interleaved; checks that every alert was recorded.
public struct IntakeBenchmark: Sendable {
    /// Alerts to post.
    public var alerts: Int
    /// Requests in flight at once.
    public var concurrency: Int

    public init(alerts: Int, concurrency: Int) {
        self.alerts = alerts
        self.concurrency = concurrency
    }

    public func run() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("medic-intake-bench-\(getpid())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let audit = try SQLiteAuditLog(path: scratch.appendingPathComponent("audit.db").path)
        let dispatcher = Dispatcher(runbooks: [], audit: audit, environment: [:])
        let server = IntakeServer(dispatcher: dispatcher, settings: .init(), digest: { Digest.sha256($0) })
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: server.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { portContinuation.yield($0.localAddress?.port ?? 0) })
        let count = alerts
        let inFlight = concurrency
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var iterator = ports.makeAsyncIterator()
            let port = await iterator.next() ?? 0
            let base = "http://127.0.0.1:\(port)"
            let session = URLSession(configuration: .ephemeral)

            func burst(_ make: @escaping @Sendable (Int) -> URLRequest) async throws -> (Double, Int) {
                let start = ContinuousClock.now
                // Keeps `inFlight` requests going; counts the answers that were not 2xx.
                let failures = try await withThrowingTaskGroup(of: Int.self) { requests in
                    var next = 0
                    var failed = 0
                    func send() {
                        guard next < count else { return }
                        let request = make(next)
                        next += 1
                        requests.addTask {
                            let (_, response) = try await session.data(for: request)
                            return (response as? HTTPURLResponse).map { $0.statusCode < 300 ? 0 : 1 } ?? 1
                        }
                    }
                    for _ in 0..<inFlight { send() }
                    while let result = try await requests.next() {
                        failed += result
                        send()
                    }
                    return failed
                }
                return (Double(count) / BenchClock.seconds(ContinuousClock.now - start), failures)
            }

            let (ceiling, _) = try await burst { _ in URLRequest(url: URL(string: "\(base)/healthz")!) }
            // While the alerts pour in, a separate connection asks /healthz every 20 ms: the server must stay
            // responsive to its supervisor (a liveness probe that times out gets the process restarted).
            let probing = Task { () -> (latencies: [Double], failed: Int) in
                let probeSession = URLSession(configuration: .ephemeral)
                var latencies: [Double] = []
                var failed = 0
                while !Task.isCancelled, latencies.count + failed < 100_000 {
                    let start = ContinuousClock.now
                    let status = try? await
                        (probeSession.data(from: URL(string: "\(base)/healthz")!).1
                        as? HTTPURLResponse)?.statusCode
                    if status == 200 {
                        latencies.append(BenchClock.seconds(ContinuousClock.now - start) * 1000)
                    } else if !Task.isCancelled {
                        failed += 1
                    }
                    try? await Task.sleep(for: .milliseconds(20))
                }
                return (latencies.sorted(), failed)
            }
            let (intake, failures) = try await burst { index in
                var request = URLRequest(url: URL(string: "\(base)/v1/alerts/alertmanager")!)
                request.httpMethod = "POST"
                request.httpBody = Data(
                    #"{"alerts":[{"status":"firing","labels":{"alertname":"Bench","instance":"host-\#(index)"}}]}"#.utf8
                )
                return request
            }
            probing.cancel()
            let probes = await probing.value
            func percentile(_ p: Double) -> Double {
                probes.latencies.isEmpty
                    ? .nan : probes.latencies[min(probes.latencies.count - 1, Int(Double(probes.latencies.count) * p))]
            }
            var received = 0
            try audit.forEachRecord(where: .init(kinds: [.alertReceived])) { _ in received += 1 }
            print("figure                                           medic        baseline     ratio")
            print(
                String(
                    format:
                        "alerts/s, recorded durably (%d alerts, %d in flight)  %7.0f/s   %7.0f/s   %.0f%% of the HTTP ceiling (GET /healthz)",
                    count, inFlight, intake, ceiling, intake / ceiling * 100))
            print(
                "recorded \(received) of \(count) alerts; \(failures) non-2xx answers\(received == count ? "" : "  <-- LOST ALERTS")"
            )
            print(
                String(
                    format:
                        "GET /healthz during the burst: %d answered, %d failed; p50 %.1f ms, p99 %.1f ms, max %.1f ms",
                    probes.latencies.count, probes.failed, percentile(0.5), percentile(0.99),
                    probes.latencies.last ?? .nan))
            group.cancelAll()
        }
    }
}
