import Foundation
import MedicCore
import MedicExecution
import Testing

/// The executor with real processes and the real clock, end to end from runbook text to report and audit events.
@Suite struct ExecutorTests {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("medic-exec-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func prepare(_ text: String, params: [String: String] = [:], environment: [String: String] = [:]) throws
        -> PreparedRun
    {
        let source = RunbookSource.check(data: Data(text.utf8), path: "test.yaml")
        let runbook = try #require(source.runbook, "\(source.diagnostics.map(\.text))")
        var env = environment
        env["PATH"] = env["PATH"] ?? ProcessInfo.processInfo.environment["PATH"]
        return try PreparedRun.prepare(runbook, runID: "run-1", given: params, alert: nil, environment: env).get()
    }

    func run(
        _ text: String, params: [String: String] = [:], environment: [String: String] = [:],
        cancelWhen: (@Sendable () -> Bool)? = nil
    )
        async throws -> (RunReport, [AuditEvent])
    {
        let prepared = try prepare(text, params: params, environment: environment)
        let audit = InMemoryAuditLog()
        let executor = Executor(audit: audit)
        let cancel = StopSignal()
        if let cancelWhen {
            // Polls (bounded) instead of guessing a delay: a loaded machine is slow to reach the point.
            Task {
                for _ in 0..<1_000 where !cancelWhen() { try await Task.sleep(for: .milliseconds(10)) }
                cancel.trigger()
            }
        }
        let report = try await executor.run(prepared, cancel: cancel)
        return (report, await audit.events)
    }

    var log: String { directory.appendingPathComponent("log").path }

    func logLines() -> [String] {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    static let header = "runbook: exec\nsteps:\n"

    @Test("a successful run: every step succeeds and every event is audited in order")
    func success() async throws {
        let text =
            Self.header + """
                  - id: one
                    run: [sh, -c, 'echo one >> \(log)']
                    timeout: 5s
                  - id: two
                    shell: echo two >> "$LOG"
                    env: { LOG: '\(log)' }
                    timeout: 5s
                """
        let (report, events) = try await run(text)
        #expect(report.outcome == .succeeded)
        #expect(report.steps.map(\.status) == [.succeeded, .succeeded])
        #expect(logLines() == ["one", "two"])
        #expect(events.first?.kind == .runStarted)
        #expect(events.last?.kind == .runFinished)
        #expect(events.filter { $0.kind == .attemptFinished }.count == 2)
    }

    @Test("independent steps really overlap in time")
    func parallelOverlap() async throws {
        let step = { (id: String) in
            "  - id: \(id)\n    needs: []\n    shell: 'date +%s.%N >> \(self.log).\(id); sleep 0.5; date +%s.%N >> \(self.log).\(id)'\n    timeout: 5s\n"
        }
        let (report, _) = try await run(Self.header + step("a") + step("b") + step("c"))
        #expect(report.outcome == .succeeded)
        let spans = try ["a", "b", "c"].map { id in
            try String(contentsOfFile: "\(log).\(id)", encoding: .utf8).split(separator: "\n").compactMap { Double($0) }
        }
        let latestStart = spans.map { $0[0] }.max()!
        let earliestEnd = spans.map { $0[1] }.min()!
        #expect(latestStart < earliestEnd, "all three were running at once")
    }

    @Test("retries are counted and spaced by the delay")
    func retries() async throws {
        let counter = directory.appendingPathComponent("count").path
        let text =
            Self.header + """
                  - id: flaky
                    shell: |
                      date +%s.%N >> "\(log)"
                      n=$(cat "\(counter)" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > "\(counter)"
                      test $n -ge 3
                    timeout: 5s
                    retry: { attempts: 4, delay: 300ms, backoff: fixed, jitter: false }
                """
        let (report, events) = try await run(text)
        #expect(report.outcome == .succeeded)
        #expect(report.steps[0].attempts.count == 3)
        let times = logLines().compactMap(Double.init)
        #expect(times.count == 3)
        for (earlier, later) in zip(times, times.dropFirst()) {
            #expect(later - earlier >= 0.28, "retry came after \(later - earlier)s")
        }
        #expect(events.filter { $0.kind == .retryScheduled }.count == 2)
    }

    @Test("rollback runs the succeeded steps' rollbacks in reverse completion order")
    func rollbackOrder() async throws {
        let text =
            Self.header + """
                  - id: a
                    run: [sh, -c, 'echo do-a >> \(log)']
                    timeout: 5s
                    rollback: { run: [sh, -c, 'echo undo-a >> \(log)'], timeout: 5s }
                  - id: b
                    run: [sh, -c, 'echo do-b >> \(log)']
                    timeout: 5s
                    rollback: { run: [sh, -c, 'echo undo-b >> \(log)'], timeout: 5s }
                  - id: c
                    run: [sh, -c, 'echo do-c >> \(log); exit 7']
                    timeout: 5s
                    rollback: { run: [sh, -c, 'echo undo-c >> \(log)'], timeout: 5s }
                """
        let (report, events) = try await run(text)
        #expect(report.outcome == .failed)
        #expect(logLines() == ["do-a", "do-b", "do-c", "undo-b", "undo-a"])
        #expect(report.steps.map(\.status) == [.rolledBack, .rolledBack, .failed])
        #expect(report.steps[2].attempts.first?.result.exitCode == 7)
        #expect(events.contains { $0.kind == .rollbackStarted })
    }

    @Test("when skips a step; the skip is reported with its reason")
    func whenSkips() async throws {
        let text =
            Self.header + """
                  - id: probe
                    run: [echo, healthy]
                    timeout: 5s
                    readonly: true
                  - id: fix
                    run: [sh, -c, 'echo fixed >> \(log)']
                    when: steps.probe.stdout == 'broken'
                    timeout: 5s
                """
        let (report, events) = try await run(text)
        #expect(report.outcome == .succeeded)
        #expect(report.steps[1].status == .skipped)
        #expect(logLines().isEmpty)
        #expect(events.contains { $0.kind == .stepSkipped })
    }

    @Test("the run deadline stops a hung step and the run ends timed_out")
    func deadline() async throws {
        let text =
            "runbook: exec\npolicy:\n  timeout: 500ms\nsteps:\n  - id: hang\n    run: [sleep, '300']\n    timeout: 1m\n"
        let started = ContinuousClock.now
        let (report, _) = try await run(text)
        #expect(report.outcome == .timedOut)
        #expect(report.steps[0].status == .cancelled)
        #expect(ContinuousClock.now - started < Bounds.promptly)
    }

    @Test("cancel mid-step tears the step down, then rolls back what succeeded")
    func cancelMidStep() async throws {
        let text =
            Self.header + """
                  - id: a
                    run: [sh, -c, 'echo do-a >> \(log)']
                    timeout: 5s
                    rollback: { run: [sh, -c, 'echo undo-a >> \(log)'], timeout: 5s }
                  - id: hang
                    shell: echo $$ >> "\(log).pid"; sleep 300
                    timeout: 1m
                """
        let pidFile = "\(log).pid"
        let (report, _) = try await run(text, cancelWhen: { FileManager.default.fileExists(atPath: pidFile) })
        #expect(report.outcome == .cancelled)
        #expect(report.steps[1].status == .cancelled)
        #expect(logLines() == ["do-a", "undo-a"])
    }

    @Test("hostile param values reach the process literally, as one argument")
    func hostileParams() async throws {
        let marker = directory.appendingPathComponent("pwned").path
        let text =
            "runbook: exec\nparams:\n  target: { type: string }\nsteps:\n  - id: show\n    run: [printf, '%s|', '{{ params.target }}', second]\n    timeout: 5s\n"
        let hostile = "x; touch \(marker); $(touch \(marker)) `touch \(marker)`"
        let (report, _) = try await run(text, params: ["target": hostile])
        #expect(report.outcome == .succeeded)
        #expect(report.steps[0].attempts[0].result.stdout == hostile + "|second|")
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test("secret values are redacted in captured output, argv and audit events")
    func secretRedaction() async throws {
        let text = """
            runbook: exec
            params:
              token: { type: string, from: env.MEDIC_TEST_TOKEN, secret: true }
            steps:
              - id: leak
                shell: echo "token is $TOKEN"; echo "again $TOKEN" >&2
                env: { TOKEN: '{{ params.token }}' }
                timeout: 5s
              - id: argv
                run: [echo, '{{ params.token }}']
                timeout: 5s
            """
        let secret = "s3cr3t-\(UUID().uuidString)"
        let (report, events) = try await run(text, environment: ["MEDIC_TEST_TOKEN": secret])
        #expect(report.outcome == .succeeded)
        #expect(report.steps[0].attempts[0].result.stdout == "token is ***\n")
        #expect(report.steps[0].attempts[0].result.stderr == "again ***\n")
        #expect(report.params["token"] == "***")
        let everything = events.map(\.jsonLine).joined(separator: "\n") + report.json.compact
        #expect(!everything.contains(secret))
        #expect(everything.contains("***"))
    }

    @Test("a param that breaks its pattern stops the run before any step starts")
    func badParam() throws {
        let text =
            "runbook: exec\nparams:\n  host: { type: string, pattern: '[a-z0-9.-]+' }\nsteps:\n  - id: a\n    run: [echo, '{{ params.host }}']\n    timeout: 5s\n"
        let source = RunbookSource.check(data: Data(text.utf8), path: "t.yaml")
        let runbook = try #require(source.runbook)
        let result = PreparedRun.prepare(
            runbook, runID: "r", given: ["host": "db1; rm -rf /"], alert: nil, environment: [:])
        guard case .failure(let problems) = result else {
            Issue.record("expected the param to be refused")
            return
        }
        #expect(
            problems.messages == ["param 'host': 'db1; rm -rf /' does not match pattern '[a-z0-9.-]+' (from --param)"])
    }
}

/// An audit log that breaks after a number of writes: the seam lets a test make the disk "fail".
actor FailingAuditLog: AuditLog {
    var remaining: Int
    var kinds: [String] = []

    init(failAfter writes: Int) {
        remaining = writes
    }

    struct DiskFull: Error, CustomStringConvertible {
        var description: String { "disk full" }
    }

    func append(_ event: AuditEvent) async throws {
        guard remaining > 0 else { throw DiskFull() }
        remaining -= 1
        kinds.append(event.kind.rawValue)
    }
}

@Suite struct ExecutorAuditFailureTests {
    @Test("an audit write that fails stops the run before its next step and says why")
    func auditFailureStopsRun() async throws {
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("medic-after-\(UUID())").path
        let text = """
            runbook: exec
            steps:
              - id: first
                run: ["true"]
                timeout: 5s
              - id: second
                run: [touch, '\(marker)']
                timeout: 5s
            """
        let runbook = try #require(RunbookSource.check(data: Data(text.utf8), path: "t.yaml").runbook)
        let prepared = try PreparedRun.prepare(
            runbook, runID: "r", given: [:], alert: nil, environment: ["PATH": "/usr/bin:/bin"]
        ).get()
        // run.started and the first attempt.started succeed; the write after the first attempt fails.
        let audit = FailingAuditLog(failAfter: 2)
        do {
            _ = try await Executor(audit: audit).run(prepared)
            Issue.record("expected the audit failure to be reported")
        } catch {
            #expect(error.description.contains("disk full"))
            #expect(error.report.outcome == .cancelled)
            #expect(error.report.steps[1].status == .cancelled)
            #expect(error.report.steps[1].attempts.first?.result.launchFailure?.contains("audit log") == true)
        }
        #expect(!FileManager.default.fileExists(atPath: marker))
        #expect(await audit.kinds == ["run.started", "attempt.started"])
    }
}
