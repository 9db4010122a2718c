import Foundation
import MedicCore
import MedicStore
import Testing

@Suite struct ShippedRunbookTests {
    @Test("every shipped runbook validates with no errors and no warnings")
    func shippedRunbooksAreClean() throws {
        let loaded = try RunbookDirectory().load([Fixtures.runbooks.path])
        #expect(loaded.fileCount >= 6)
        #expect(
            loaded.diagnostics.isEmpty,
            "\(loaded.diagnostics.map { "\($0.file ?? ""):\($0.location?.line ?? 0): \($0.text)" })")
        #expect(loaded.runbooks.count == loaded.fileCount)
        let ids = Set(loaded.runbooks.map(\.id))
        for expected in [
            "node-filesystem-space-filling-up", "kube-pod-crash-looping", "systemd-service-down", "host-out-of-memory",
            "kube-deployment-replicas-mismatch", "tls-certificate-expiring",
        ] {
            #expect(ids.contains(expected))
        }
        for runbook in loaded.runbooks {
            #expect(!runbook.triggers.isEmpty, "\(runbook.id) has no trigger")
            #expect(runbook.steps.contains { $0.id.hasPrefix("verify") }, "\(runbook.id) has no verify step")
            #expect(runbook.policy.timeout != nil, "\(runbook.id) has no deadline")
        }
    }

    @Test("the DESIGN.md example decodes to the values it describes")
    func designExample() throws {
        let text = """
            runbook: disk-space-cleanup
            description: Reclaim space when a filesystem is filling up.
            owner: platform-team
            params:
              instance:   { type: string, from: alert.labels.instance, pattern: '^[A-Za-z0-9.-]+(:[0-9]+)?$' }
              mountpoint: { type: string, from: alert.labels.mountpoint, default: / }
              keep_days:  { type: int, default: 7, min: 1, max: 90 }
              api_token:  { type: string, from: env.DISK_API_TOKEN, secret: true }
            triggers:
              - match: ['alertname="NodeFilesystemSpaceFillingUp"', 'severity=~"warning|critical"', 'mountpoint!="/boot"']
                status: firing
                group_by: [instance, mountpoint]
                cooldown: 30m
            policy:
              mode: autonomous
              concurrency: '{{ params.instance }}'
              max_runs: { count: 6, per: 1h }
              circuit_breaker: { failures: 3, within: 1h }
              timeout: 10m
              on_failure: rollback
            steps:
              - id: usage-before
                run: [df, --output=pcent, '{{ params.mountpoint }}']
                timeout: 10s
                readonly: true
              - id: vacuum-journal
                run: [journalctl, '--vacuum-time={{ params.keep_days }}d']
                timeout: 2m
                retry: { attempts: 3, backoff: exponential, delay: 2s, max_delay: 30s, on_exit: [75] }
                rollback:
                  run: [logger, 'medic: journal vacuum failed on {{ params.instance }}']
                  timeout: 10s
              - id: verify
                shell: |
                  used=$(df --output=pcent "$MOUNTPOINT" | tail -n 1 | tr -dc 0-9)
                  test "$used" -lt 90
                env: { MOUNTPOINT: '{{ params.mountpoint }}', TOKEN: '{{ params.api_token }}' }
                when: steps.vacuum-journal.exit_code == 0
                timeout: 15s
            """
        let source = RunbookSource.check(data: Data(text.utf8), path: "design.yaml")
        #expect(source.diagnostics.isEmpty, "\(source.diagnostics.map(\.text))")
        let runbook = try #require(source.runbook)
        #expect(runbook.id == "disk-space-cleanup")
        #expect(runbook.params.map(\.name) == ["instance", "mountpoint", "keep_days", "api_token"])
        #expect(
            runbook.param(named: "keep_days")
                == Param(name: "keep_days", type: .int, defaultValue: .int(7), min: .int(1), max: .int(90)))
        #expect(runbook.param(named: "api_token")?.source == .environment("DISK_API_TOKEN"))
        #expect(runbook.param(named: "api_token")?.secret == true)
        #expect(runbook.param(named: "mountpoint")?.defaultValue == .string("/"))
        let trigger = try #require(runbook.triggers.first)
        #expect(
            trigger.matchers.map(\.description) == [
                #"alertname="NodeFilesystemSpaceFillingUp""#, #"severity=~"warning|critical""#, #"mountpoint!="/boot""#,
            ])
        #expect(trigger.groupBy == ["instance", "mountpoint"])
        #expect(trigger.cooldown == .seconds(1800))
        #expect(runbook.policy.maxRuns == Policy.RateLimit(count: 6, per: .seconds(3600)))
        #expect(runbook.policy.circuitBreaker == Policy.CircuitBreaker(failures: 3, within: .seconds(3600)))
        #expect(runbook.policy.concurrency?.references == [.param("instance")])
        #expect(runbook.policy.timeout == .seconds(600))
        let vacuum = try #require(runbook.step(withID: "vacuum-journal"))
        #expect(
            vacuum.body.retry
                == RetryPolicy(
                    attempts: 3, delay: .seconds(2), backoff: .exponential, maxDelay: .seconds(30), onExit: [75]))
        #expect(vacuum.rollback?.timeout == .seconds(10))
        let verify = try #require(runbook.step(withID: "verify"))
        #expect(verify.when?.references == [.stepOutput(step: "vacuum-journal", field: .exitCode)])
        #expect(verify.body.env.map(\.name) == ["MOUNTPOINT", "TOKEN"])
        if case .shell(let script) = verify.body.action {
            #expect(script.hasPrefix("used=$(df"))
        } else {
            Issue.record("verify should be a shell step")
        }
        let graph = try StepGraph.build(runbook.steps).get()
        #expect(graph.topologicalOrder == ["usage-before", "vacuum-journal", "verify"])
    }

    @Test("directories are searched recursively and runbook ids must be unique across them")
    func duplicateIDsAcrossDirectory() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("medic-dir-\(UUID())")
        let nested = root.appendingPathComponent("team-a/nested")
        try FileManager.default.createDirectory(at: nested, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let body =
            "runbook: same\ntriggers:\n  - match: ['alertname=\"X\"']\nsteps:\n  - id: a\n    run: [\"true\"]\n    timeout: 1s\n"
        try body.write(to: root.appendingPathComponent("one.yaml"), atomically: true, encoding: .utf8)
        try body.write(to: nested.appendingPathComponent("two.yml"), atomically: true, encoding: .utf8)
        try "not a runbook".write(to: root.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        let loaded = try RunbookDirectory().load([root.path])
        #expect(loaded.fileCount == 2)
        let duplicate = try #require(loaded.diagnostics.first { $0.id == "duplicate-runbook-id" })
        #expect(duplicate.file?.hasSuffix("team-a/nested/two.yml") == true)
        #expect(duplicate.location?.line == 1)
        #expect(duplicate.text.contains("one.yaml"))
        #expect(loaded.runbooks.count == 1)
    }
}
