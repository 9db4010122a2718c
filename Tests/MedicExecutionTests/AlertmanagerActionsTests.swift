import Foundation
import MedicCore
import MedicExecution
import Synchronization
import Testing

/// The dispatcher's use of Alertmanager (silences, MedicEscalation, resolution) through a recording stand-in:
/// the real API is exercised by scripts/e2e-alertmanager.sh; this covers the paths that script cannot force.
@Suite struct AlertmanagerActionsTests {
    final class Recorder: AlertmanagerActions, Sendable {
        struct State {
            var silences: [String: [String: String]] = [:]
            var expired: [String] = []
            var posted: [[String: String]] = []
            var asked = 0
            var failExpiry = false
            var listed = true
        }
        let state = Mutex(State())
        var name: String { "alertmanager_api" }

        func state(fingerprint: String, labels: [String: String], lastSeenFiring: Date?) async -> AlertState {
            state.withLock { $0.asked += 1 }
            return state.withLock { $0.listed } ? .firing : (lastSeenFiring == nil ? .unknown : .resolved)
        }
        func createSilence(labels: [String: String], until: Date, comment: String) async throws -> String {
            let id = "s\(UUID().uuidString.prefix(4))"
            state.withLock { $0.silences[id] = labels }
            return id
        }
        struct Refused: Error {}
        func expireSilence(_ id: String) async throws {
            if state.withLock({ $0.failExpiry }) { throw Refused() }
            state.withLock { $0.expired.append(id) }
        }
        func medicSilences() async throws -> [(id: String, comment: String)] { [] }
        func postAlert(labels: [String: String], annotations: [String: String], startsAt: Date, endsAt: Date) async throws {
            state.withLock { $0.posted.append(labels) }
        }
    }

    func runbook(_ text: String) throws -> Runbook {
        try #require(RunbookSource.check(data: Data(text.utf8), path: "am.yaml").runbook)
    }

    func drive(_ dispatcher: Dispatcher, _ alert: Alert, until: @escaping @Sendable () async -> Bool) async throws {
        try await withDispatcher(dispatcher) { dispatcher in
            _ = try await dispatcher.receive([alert], payloadDigest: "d")
            for _ in 0..<400 where !(await until()) { try await Task.sleep(for: .milliseconds(25)) }
        }
    }

    @Test("a failed run's silence is expired; an expiry Alertmanager refuses is recorded and escalated as silence_failed, with a MedicEscalation whose labels keep the alert's")
    func silenceLifecycle() async throws {
        let book = try runbook(
            """
            runbook: fails
            triggers:
              - match: ['alertname="Broken"']
            policy:
              silence: { for: 15m }
              escalate: { alertmanager: true }
            steps:
              - id: fix
                run: ['false']
                timeout: 5s
            """)
        let alert = Alert(
            source: .alertmanager, status: .firing,
            labels: ["alertname": "Broken", "reason": "OOMKilled", "k8s.pod": "x", "instance": "db1"])
        let audit = InMemoryAuditLog()
        let recorder = Recorder()
        recorder.state.withLock { $0.failExpiry = true }
        let dispatcher = Dispatcher(
            runbooks: [book], audit: audit, environment: ["PATH": "/usr/bin:/bin"], alertmanager: recorder)
        try await drive(dispatcher, alert) { !recorder.state.withLock { $0.posted.isEmpty } }
        let events = await audit.events
        #expect(events.contains { $0.kind == .silenceCreated })
        let failed = try #require(events.first { $0.kind == .silenceFailed })
        #expect(failed.body["action"] == "expire")
        #expect(events.contains { $0.kind == .runEscalated && $0.body["reason"] == "silence_failed" })
        let posted = try #require(recorder.state.withLock { $0.posted.first })
        #expect(posted["alertname"] == "MedicEscalation")
        #expect(posted["original_alertname"] == "Broken")
        #expect(posted["original_reason"] == "OOMKilled")
        #expect(posted["reason"] == "silence_failed")
        #expect(posted["instance"] == "db1")
        #expect(posted["k8s.pod"] == nil, "a label name Alertmanager refuses is left out")
    }

    @Test("only an alert from Alertmanager is looked up there, and its disappearance counts after it was seen firing")
    func resolutionOnlyForAlertmanagerAlerts() async throws {
        let book = try runbook(
            """
            runbook: ok
            triggers:
              - match: ['alertname="Slow"']
            verify: { within: 1s }
            steps:
              - id: fix
                run: ['true']
                timeout: 5s
            """)
        for source in [Alert.Source.grafana, .alertmanager] {
            let audit = InMemoryAuditLog()
            let recorder = Recorder()
            recorder.state.withLock { $0.listed = false }
            let dispatcher = Dispatcher(
                runbooks: [book], audit: audit, environment: ["PATH": "/usr/bin:/bin"], alertmanager: recorder)
            let alert = Alert(source: source, status: .firing, labels: ["alertname": "Slow"])
            try await drive(dispatcher, alert) { await audit.events.contains { $0.kind == .runUnverified } }
            let events = await audit.events
            // Never listed: not proof of anything, so the deadline decides (unverified), for either source.
            #expect(events.contains { $0.kind == .runUnverified }, "\(source)")
            #expect(!events.contains { $0.kind == .runVerified }, "\(source)")
            #expect((recorder.state.withLock { $0.asked } > 0) == (source == .alertmanager), "\(source)")
        }
    }
}
