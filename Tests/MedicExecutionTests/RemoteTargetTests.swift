import Foundation
import Synchronization
import MedicCore
import MedicExecution
import MedicTestSupport
import Testing

/// Steps on other hosts, over real sshd servers on 127.0.0.2 and 127.0.0.3 (`SSHServer`): each step runs where
/// its target says, with strict host keys, arguments that arrive as one literal word, secrets off every
/// command line, and nothing left running on the target after a timeout.
@Suite(.serialized) struct RemoteTargetTests {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("medic-remote-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// A short private directory for ControlMaster sockets (a socket path may not exceed 108 bytes).
    static func controlDirectory() throws -> String {
        var template = Array("/tmp/mcm-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        return String(cString: made)
    }

    func run(
        _ text: String, config: URL, params: [String: String] = [:], controlDirectory: String? = nil,
        during: (@Sendable () async -> Void)? = nil
    ) async throws -> (RunReport, [AuditEvent]) {
        let source = RunbookSource.check(data: Data(text.utf8), path: "remote.yaml")
        let runbook = try #require(source.runbook, "\(source.diagnostics.map(\.text))")
        let prepared = try PreparedRun.prepare(
            runbook, runID: "remote-1", given: params, alert: nil,
            environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? ""]
        ).get()
        let audit = InMemoryAuditLog()
        let ownDirectory = controlDirectory == nil ? try Self.controlDirectory() : nil
        let settings = SSHSettings(configFile: config.path, controlDirectory: controlDirectory ?? ownDirectory)
        let executor = Executor(runner: SubprocessRunner(ssh: settings), audit: audit)
        async let report = executor.run(prepared, cancel: StopSignal())
        if let during { await during() }
        let finished = try await report
        // No master outlives the test.
        await SSHTransport.closeConnections(settings)
        if let ownDirectory { try? FileManager.default.removeItem(atPath: ownDirectory) }
        return (finished, await audit.events)
    }

    /// A runbook whose steps (YAML list items, indented two spaces) all run on 127.0.0.2:`port`.
    static func onHost(port: Int, steps: String) -> String {
        "runbook: remote\ntarget: { ssh: 127.0.0.2, port: \(port) }\nsteps:\n" + steps
    }

    /// Runs a step that would touch a file on 127.0.0.2:`port` (`retries` attempts allowed) where it must not
    /// run; checks that the run failed and nothing was touched, and returns the attempts' records.
    func attemptsOfRefusedStep(
        port: Int, config: URL, retries: Int = 3, controlDirectory: String? = nil
    ) async throws -> [AuditEvent] {
        let text = Self.onHost(
            port: port,
            steps: """
                  - id: touch
                    run: [touch, \(directory.path)/touched]
                    timeout: 20s
                    retry: { attempts: \(retries), delay: 10ms }
                """)
        let (report, events) = try await run(text, config: config, controlDirectory: controlDirectory)
        #expect(report.outcome == .failed)
        #expect(read("touched") == nil)
        return events.filter { $0.kind == .attemptFinished }
    }

    func read(_ name: String) -> String? {
        try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
    }

    @Test("each step runs on its own host, with retries, a failing step and the rollback where its step ran")
    func twoHosts() async throws {
        let first = try SSHServer.start(address: "127.0.0.2")
        defer { first.stop() }
        let second = try SSHServer.start(address: "127.0.0.3")
        defer { second.stop() }
        let config = try SSHServer.sharedConfig(for: [first, second], in: directory)
        let out = directory.path
        let text = """
            runbook: remote
            params:
              first: { type: string, default: '127.0.0.2' }
            target: { ssh: '{{ params.first }}', port: \(first.port) }
            steps:
              - id: change
                run: [sh, -c, 'echo "$SSH_CONNECTION" > \(out)/change']
                timeout: 20s
                rollback:
                  run: [sh, -c, 'echo "$SSH_CONNECTION" > \(out)/undo']
                  timeout: 20s
              - id: local-note
                target: local
                run: [sh, -c, 'echo "${SSH_CONNECTION:-local}" > \(out)/note']
                timeout: 5s
              - id: flaky
                target: { ssh: 127.0.0.3, port: \(second.port) }
                run: [sh, -c, 'echo "$SSH_CONNECTION" >> \(out)/flaky; exit 3']
                timeout: 20s
                retry: { attempts: 2, delay: 10ms }
            """
        let (report, events) = try await run(text, config: config)
        #expect(report.outcome == .failed)
        // The audit log says where each attempt ran.
        let targets = events.filter { $0.kind == .attemptStarted }.map { $0.body["target"] }
        #expect(targets.contains(.string("ssh://127.0.0.2:\(first.port)")))
        #expect(targets.contains(.string("ssh://127.0.0.3:\(second.port)")))
        #expect(targets.contains(nil))
        // `$SSH_CONNECTION` ends with the server's address and port.
        #expect(read("change")?.contains("127.0.0.2 \(first.port)") == true, "\(read("change") ?? "nil")")
        #expect(read("undo")?.contains("127.0.0.2 \(first.port)") == true, "\(read("undo") ?? "nil")")
        #expect(read("note") == "local\n")
        let flaky = read("flaky")?.split(separator: "\n") ?? []
        #expect(flaky.count == 2 && flaky.allSatisfy { $0.hasSuffix("127.0.0.3 \(second.port)") }, "\(flaky)")
        #expect(report.steps.first { $0.id == "flaky" }?.attempts.count == 2)
    }

    @Test("a host whose key is not known runs nothing, is not retried, and the audit says host key unknown")
    func unknownHostKey() async throws {
        let server = try SSHServer.start(address: "127.0.0.2")
        defer { server.stop() }
        try server.forgetHostKey()
        let attempts = try await attemptsOfRefusedStep(port: server.port, config: server.configFile)
        #expect(attempts.count == 1)
        #expect("\(attempts.first?.body ?? [:])".contains("host key unknown"), "\(attempts)")
    }

    @Test("medic plan --probe runs a remote readonly step on its host and uses its output")
    func probeRemotely() async throws {
        let server = try SSHServer.start(address: "127.0.0.2")
        defer { server.stop() }
        let text = Self.onHost(
            port: server.port,
            steps: """
                  - id: where
                    run: [sh, -c, 'echo "$SSH_CONNECTION"']
                    timeout: 20s
                    readonly: true
                """)
        let source = RunbookSource.check(data: Data(text.utf8), path: "remote.yaml")
        let runbook = try #require(source.runbook)
        let prepared = try PreparedRun.prepare(runbook, runID: "plan", given: [:], alert: nil, environment: [:]).get()
        let control = try Self.controlDirectory()
        let settings = SSHSettings(configFile: server.configFile.path, controlDirectory: control)
        let probes = await Prober(runner: SubprocessRunner(ssh: settings)).probe(prepared)
        await SSHTransport.closeConnections(settings)
        try? FileManager.default.removeItem(atPath: control)
        #expect(probes["where"]?.stdout.contains("127.0.0.2 \(server.port)") == true, "\(probes)")
    }

    @Test("a changed host key runs nothing and says so; an ssh_config that says otherwise cannot weaken it")
    func changedHostKey() async throws {
        let server = try SSHServer.start(address: "127.0.0.2")
        defer { server.stop() }
        try server.replaceHostKey()
        // Options that come first in a config file win over later ones, but not over Medic's command line.
        let weakened = directory.appendingPathComponent("weak_config")
        let original = try String(contentsOf: server.configFile, encoding: .utf8)
        try ("StrictHostKeyChecking no\nLogLevel QUIET\nBatchMode no\n" + original).write(
            to: weakened, atomically: true, encoding: .utf8)
        let attempts = try await attemptsOfRefusedStep(port: server.port, config: weakened)
        #expect(attempts.count == 1)
        #expect("\(attempts.first?.body ?? [:])".contains("host key changed"), "\(attempts)")
    }

    @Test("a ControlMaster directory another user could have made is refused before anything is sent")
    func unsafeControlDirectory() async throws {
        let server = try SSHServer.start(address: "127.0.0.2")
        defer { server.stop() }
        let open = try Self.controlDirectory()
        defer { try? FileManager.default.removeItem(atPath: open) }
        chmod(open, 0o777)
        let attempts = try await attemptsOfRefusedStep(
            port: server.port, config: server.configFile, retries: 1, controlDirectory: open)
        #expect("\(attempts)".contains("must be a directory of ours with mode 0700"))
    }

    @Test("ssh's own failure (nothing listening) runs nothing, says so, and is retried like a failed attempt")
    func unreachableIsRetried() async throws {
        let server = try SSHServer.start(address: "127.0.0.2")
        let port = server.port
        let config = directory.appendingPathComponent("config")
        try FileManager.default.copyItem(at: server.configFile, to: config)
        server.stop()
        let attempts = try await attemptsOfRefusedStep(port: port, config: config, retries: 2)
        #expect(attempts.count == 2)
        #expect("\(attempts.first?.body ?? [:])".contains("ssh: cannot reach ssh://127.0.0.2:\(port)"), "\(attempts)")
    }

    @Test("a hostile value reaches the remote command as one literal argument")
    func hostileArgument() async throws {
        let server = try SSHServer.start(address: "127.0.0.2")
        defer { server.stop() }
        // Leading `-`, quotes of both kinds, `$(…)`, backticks, `;`, a newline, a glob.
        let hostile = "-n a'b\"c $(touch \(directory.path)/pwned) `id` ; rm -rf /nonexistent\n-x *"
        let text = """
            runbook: remote
            params:
              value: { type: string }
            target: { ssh: 127.0.0.2, port: \(server.port) }
            steps:
              - id: echo
                run: [sh, -c, 'printf %s "$1" > "$2"; printf %s "$HOSTILE" > "$3"', sh, '{{ params.value }}', \(directory.path)/value, \(directory.path)/env]
                env: { HOSTILE: '{{ params.value }}' }
                timeout: 20s
            """
        let (report, _) = try await run(text, config: server.configFile, params: ["value": hostile])
        #expect(report.outcome == .succeeded)
        #expect(read("value") == hostile)
        #expect(read("env") == hostile)
        #expect(read("pwned") == nil)
    }

    @Test(
        "a hostile value as a host is refused before anything runs",
        arguments: ["-oProxyCommand=touch /tmp/x", "host name", "a@b", "db1;reboot", "$(id)", "node7:9100", ""])
    func hostileHost(_ host: String) throws {
        let text = """
            runbook: remote
            params:
              node: { type: string }
            target: { ssh: '{{ params.node }}' }
            steps:
              - id: a
                run: ["true"]
                timeout: 5s
            """
        let source = RunbookSource.check(data: Data(text.utf8), path: "remote.yaml")
        let runbook = try #require(source.runbook)
        let prepared = PreparedRun.prepare(
            runbook, runID: "r", given: ["node": host], alert: nil, environment: [:])
        guard case .failure(let problems) = prepared else {
            Issue.record("\(host.debugDescription) was accepted as a host")
            return
        }
        #expect(problems.messages.joined().contains("target of step a"))
    }

    @Test("an instance label with a port gives its host through extract")
    func extractHost() throws {
        let text = """
            runbook: remote
            params:
              node: { type: string, from: alert.labels.instance, extract: '([^:]+)(?::[0-9]+)?' }
            target: { ssh: '{{ params.node }}' }
            steps:
              - id: a
                run: ["true"]
                timeout: 5s
            """
        let source = RunbookSource.check(data: Data(text.utf8), path: "remote.yaml")
        let runbook = try #require(source.runbook, "\(source.diagnostics.map(\.text))")
        let alert = Alert(source: .alertmanager, status: .firing, labels: ["instance": "node7:9100"])
        let prepared = try PreparedRun.prepare(runbook, runID: "r", given: [:], alert: alert, environment: [:]).get()
        #expect(prepared.targets["a"] == ResolvedTarget(host: "node7"))
        #expect(RunPlan(prepared).text(probed: false).contains("on: ssh://node7"))
    }

    @Test("a secret passed in env to a remote step is on no command line, on either side, while it runs")
    func secretOffCommandLines() async throws {
        let server = try SSHServer.start(address: "127.0.0.2")
        defer { server.stop() }
        let secret = "s3cret-\(UUID().uuidString)"
        let text = """
            runbook: remote
            params:
              token: { type: string, secret: true }
            target: { ssh: 127.0.0.2, port: \(server.port) }
            steps:
              - id: use
                run: [sh, -c, 'printf %s "$TOKEN" > \(directory.path)/seen; sleep 2']
                env: { TOKEN: '{{ params.token }}' }
                timeout: 20s
            """
        let seen = Mutex<[String]>([])
        let (report, _) = try await run(text, config: server.configFile, params: ["token": secret]) {
            // Sample every process's command line while the step sleeps (bounded).
            for _ in 0..<30 {
                let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
                for pid in entries where Int(pid) != nil {
                    guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
                    let line = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
                    if line.contains(secret) { seen.withLock { $0.append(line) } }
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(report.outcome == .succeeded)
        #expect(read("seen") == secret)
        #expect(seen.withLock { $0 }.isEmpty, "\(seen.withLock { $0 })")
    }

    @Test("what a remote step leaves running when it exits dies with it, as locally")
    func leftoversDie() async throws {
        let server = try SSHServer.start(address: "127.0.0.2")
        defer { server.stop() }
        let pidFile = directory.appendingPathComponent("left").path
        let text = Self.onHost(
            port: server.port,
            steps: """
                  - id: leave
                    run: [sh, -c, 'sleep 300 & echo $! > \(pidFile); exit 0']
                    timeout: 20s
                """)
        let (report, _) = try await run(text, config: server.configFile)
        #expect(report.outcome == .succeeded)
        let pid = try #require(Int32((read("left") ?? "").trimmingCharacters(in: .whitespacesAndNewlines)))
        for _ in 0..<50 where kill(pid, 0) == 0 { try await Task.sleep(for: .milliseconds(100)) }
        #expect(kill(pid, 0) != 0, "pid \(pid) still runs")
    }

    @Test("after a timeout, a remote step that ignores SIGTERM and its background child are gone")
    func remoteTimeoutKillsTree() async throws {
        let server = try SSHServer.start(address: "127.0.0.2")
        defer { server.stop() }
        let pids = directory.appendingPathComponent("pids").path
        let text = Self.onHost(
            port: server.port,
            steps: """
                  - id: stubborn
                    run: [sh, -c, 'trap "" TERM; sleep 300 & echo $! > \(pids); env -i sh -c "trap \\"\\" TERM; echo \\$\\$ >> \(pids); exec sleep 301" & echo $$ >> \(pids); while :; do sleep 1; done']
                    timeout: 2s
                    kill_grace: 1s
                """)
        let started = ContinuousClock.now
        let (report, events) = try await run(text, config: server.configFile)
        #expect(report.outcome == .failed)
        let listed = (read("pids") ?? "").split(separator: "\n").compactMap { Int32($0) }
        #expect(listed.count == 3, "\(read("pids") ?? "nil")")
        // Every process the step started on the target, even one that cleared its environment, is gone within
        // kill_grace + 5 s of its timeout (the run itself returns only after the kill).
        let deadline = started + .seconds(2 + 1 + 5)
        while ContinuousClock.now < deadline, listed.contains(where: { kill($0, 0) == 0 }) {
            try await Task.sleep(for: .milliseconds(100))
        }
        for pid in listed { #expect(kill(pid, 0) != 0, "pid \(pid) still runs") }
        let record = "\(events.filter { $0.kind == .attemptFinished })"
        #expect(record.contains("SIGTERM on ssh://127.0.0.2"), "\(record)")
        // As locally: a step that outlived SIGTERM ended by SIGKILL.
        #expect(report.steps.first?.attempts.first?.result.termination == .signaled(SIGKILL), "\(report.steps.first?.attempts.first?.result.stderr ?? "")")
    }

    @Test("a remote step stopped at its timeout ends by SIGTERM, as a local one does, not as exit 143")
    func remoteTimeoutReadsAsSignal() async throws {
        let server = try SSHServer.start(address: "127.0.0.2")
        defer { server.stop() }
        let text = Self.onHost(
            port: server.port,
            steps: """
                  - id: slow
                    run: [sleep, '300']
                    timeout: 1s
                """)
        let (report, events) = try await run(text, config: server.configFile)
        #expect(report.outcome == .failed)
        let result = try #require(report.steps.first?.attempts.first?.result)
        #expect(result.timedOut)
        #expect(result.termination == .signaled(SIGTERM), "\(result)")
        #expect(result.killUnconfirmed == nil)
        let record = try #require(events.first { $0.kind == .attemptFinished })
        #expect(record.body["signal"] == JSONValue(Int(SIGTERM)))
        #expect(record.body["exit_code"] == .null)
    }
    @Test("a kill the target cannot confirm: the attempt says kill unconfirmed, is not retried, and the run escalates")
    func killUnconfirmedEscalates() async throws {
        let server = try SSHServer.start(address: "127.0.0.2")
        defer { server.stop() }
        let pidFile = directory.appendingPathComponent("remote-pid").path
        let pager = directory.appendingPathComponent("pager.log").path
        let text = """
            runbook: stuck
            triggers:
              - match: ['alertname="Down"']
            target: { ssh: 127.0.0.2, port: \(server.port) }
            policy:
              mode: autonomous
              escalate:
                shell: 'printf "%s|%s\\n" "$MEDIC_ESCALATION_REASON" "$MEDIC_RUN_ID" >> \(pager)'
                timeout: 5s
            steps:
              - id: hang
                run: [sh, -c, 'echo $$ > \(pidFile); exec sleep 300']
                timeout: 2s
                kill_grace: 500ms
                retry: { attempts: 3, delay: 10ms }
            """
        let source = RunbookSource.check(data: Data(text.utf8), path: "stuck.yaml")
        let runbook = try #require(source.runbook, "\(source.diagnostics.map(\.text))")
        let controlDirectory = try Self.controlDirectory()
        let settings = SSHSettings(configFile: server.configFile.path, controlDirectory: controlDirectory)
        let audit = InMemoryAuditLog()
        let dispatcher = Dispatcher(
            runbooks: [runbook], audit: audit, environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? ""],
            runner: SubprocessRunner(ssh: settings))
        var remotePID: Int32?
        defer { if let remotePID { kill(remotePID, SIGKILL) } }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await dispatcher.run() }
            _ = try? await dispatcher.receive(
                [Alert(source: .alertmanager, status: .firing, labels: ["alertname": "Down"], startsAt: Date())],
                payloadDigest: "d")
            // The step runs on the target; then the target stops answering new connections.
            for _ in 0..<100 where remotePID == nil {
                remotePID = Int32((read("remote-pid") ?? "").trimmingCharacters(in: .whitespacesAndNewlines))
                try? await Task.sleep(for: .milliseconds(50))
            }
            // The host drops off: no new connection is accepted, and Medic's connection to it is gone too.
            server.stopListening()
            await SSHTransport.closeConnections(settings)
            for _ in 0..<400 where !(await audit.events.contains { $0.kind == .runEscalated }) {
                try? await Task.sleep(for: .milliseconds(50))
            }
            for _ in 0..<100 where ((try? String(contentsOfFile: pager, encoding: .utf8)) ?? "").isEmpty {
                try? await Task.sleep(for: .milliseconds(50))
            }
            await dispatcher.finishQueue()
            await group.waitForAll()
        }
        await SSHTransport.closeConnections(settings)
        try? FileManager.default.removeItem(atPath: controlDirectory)
        let pid = try #require(remotePID)
        // Honest: the remote process was out of reach, and it still runs (the test kills it by pid).
        #expect(kill(pid, 0) == 0, "the remote process was killed after all: the test proves nothing")
        let events = await audit.events
        let attempts = events.filter { $0.kind == .attemptFinished && $0.body["step"] == "hang" }
        #expect(attempts.count == 1, "a second attempt started while the first may still run: \(attempts)")
        let unconfirmed = attempts.first?.body["kill_unconfirmed"]?.stringValue ?? ""
        #expect(unconfirmed.contains("ssh://127.0.0.2"), "\(attempts)")
        let escalated = try #require(events.first { $0.kind == .runEscalated })
        #expect(escalated.body["reason"] == "kill_unconfirmed")
        let details = "\(escalated.body["details"] ?? .null)"
        #expect(details.contains("kill unconfirmed: step hang attempt 1"), "\(details)")
        let paged = (try? String(contentsOfFile: pager, encoding: .utf8)) ?? ""
        #expect(paged == "kill_unconfirmed|\(escalated.runID)\n")
    }
    @Test("a jump host is checked as strictly as the target: an ssh_config that waives its key check is not obeyed")
    func jumpHostKeyIsChecked() async throws {
        let jump = try SSHServer.start(address: "127.0.0.2")
        defer { jump.stop() }
        let target = try SSHServer.start(address: "127.0.0.3")
        defer { target.stop() }
        let shared = try SSHServer.sharedConfig(for: [jump, target], in: directory)
        let common = try String(contentsOf: shared, encoding: .utf8)
        let step = """
              - id: where
                target: { ssh: 127.0.0.3, port: \(target.port) }
                run: [sh, -c, 'echo "$SSH_CONNECTION" > \(directory.path)/where']
                timeout: 20s
            """
        let text = "runbook: jumped\nsteps:\n" + step
        // Through the jump host, with both keys known: the step runs on the target.
        let through = directory.appendingPathComponent("through_config")
        try ("Host 127.0.0.3\n  ProxyJump 127.0.0.2:\(jump.port)\n\nHost *\n" + common).write(
            to: through, atomically: true, encoding: .utf8)
        let (report, _) = try await run(text, config: through)
        #expect(report.outcome == .succeeded, "\(report.steps.first?.attempts.first?.result.stderr ?? "")")
        #expect(read("where")?.contains("127.0.0.3 \(target.port)") == true, "\(read("where") ?? "nil")")
        try FileManager.default.removeItem(at: directory.appendingPathComponent("where"))

        // The jump host's key is unknown and the config says not to check it: plain ssh would go through.
        let waived = directory.appendingPathComponent("waived_config")
        try """
        Host 127.0.0.2
          StrictHostKeyChecking no
          UserKnownHostsFile /dev/null
        Host 127.0.0.3
          ProxyJump 127.0.0.2:\(jump.port)

        Host *

        """.appending(common).write(to: waived, atomically: true, encoding: .utf8)
        let plain = try SSHServer.run(
            "ssh", ["-F", waived.path, "-p", "\(target.port)", "--", "127.0.0.3", "true"])
        #expect(plain.status == 0, "the waiver does not waive, so the test proves nothing: \(plain.output)")
        let attempts = try await run(text, config: waived).1.filter { $0.kind == .attemptFinished }
        #expect(read("where") == nil)
        #expect(attempts.count == 1)
        #expect("\(attempts.first?.body ?? [:])".contains("host key unknown"), "\(attempts)")
    }
    @Test("two steps on one host at once share Medic's connection to it, which outlives them")
    func concurrentStepsShareOneMaster() async throws {
        let server = try SSHServer.start(address: "127.0.0.2")
        defer { server.stop() }
        let control = try Self.controlDirectory()
        defer { try? FileManager.default.removeItem(atPath: control) }
        let out = directory.path
        let text = Self.onHost(
            port: server.port,
            steps: """
                  - id: one
                    needs: []
                    run: [sh, -c, 'sleep 1; echo "$SSH_CONNECTION" > \(out)/one']
                    timeout: 20s
                  - id: two
                    needs: []
                    run: [sh, -c, 'sleep 1; echo "$SSH_CONNECTION" > \(out)/two']
                    timeout: 20s
                """)
        let source = RunbookSource.check(data: Data(text.utf8), path: "remote.yaml")
        let prepared = try PreparedRun.prepare(
            try #require(source.runbook), runID: "remote-2", given: [:], alert: nil,
            environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? ""]
        ).get()
        let settings = SSHSettings(configFile: server.configFile.path, controlDirectory: control)
        let report = try await Executor(runner: SubprocessRunner(ssh: settings), audit: InMemoryAuditLog()).run(prepared)
        #expect(report.outcome == .succeeded, "\(report.steps.map { $0.attempts.map(\.result.stderr) })")
        // One TCP connection carried both: the same client port in both steps' SSH_CONNECTION.
        let one = read("one")?.split(separator: " ").dropFirst().first
        let two = read("two")?.split(separator: " ").dropFirst().first
        #expect(one != nil && one == two, "\(read("one") ?? "nil") \(read("two") ?? "nil")")
        // The master lives on after the steps (a step's launcher must not take it down with the step).
        let check = try SSHServer.run(
            "ssh", ["-F", server.configFile.path, "-o", "ControlPath=\(control)/%C", "-p", "\(server.port)", "-O", "check", "--", "127.0.0.2"])
        #expect(check.status == 0, "\(check.output)")
        await SSHTransport.closeConnections(settings)
        let after = try SSHServer.run(
            "ssh", ["-F", server.configFile.path, "-o", "ControlPath=\(control)/%C", "-p", "\(server.port)", "-O", "check", "--", "127.0.0.2"])
        #expect(after.status != 0, "closeConnections left the master running")
    }

    @Test("a remote step that keeps forking and ignores SIGTERM leaves nothing behind after its timeout")
    func forkingStepIsKilledWhole() async throws {
        let server = try SSHServer.start(address: "127.0.0.2")
        defer { server.stop() }
        let marker = "41.\(Int.random(in: 100_000...999_999))"
        let text = Self.onHost(
            port: server.port,
            steps: """
                  - id: breeder
                    run: [sh, -c, 'trap "" TERM; while :; do sleep \(marker) & sleep 0.005; done']
                    timeout: 1s
                    kill_grace: 500ms
                """)
        let started = ContinuousClock.now
        let (report, _) = try await run(text, config: server.configFile)
        #expect(report.outcome == .failed)
        #expect(report.steps.first?.attempts.first?.result.killUnconfirmed == nil)
        func survivors() -> [Int32] { Processes.matching { $0.contains(marker) && !$0.contains("while") } }
        var left = survivors()
        while !left.isEmpty, ContinuousClock.now < started + .seconds(1) + .milliseconds(500) + .seconds(5) {
            try await Task.sleep(for: .milliseconds(100))
            left = survivors()
        }
        for pid in left { kill(pid, SIGKILL) }
        #expect(left.isEmpty, "still running: \(left)")
    }
    @Test("a leftover whose command name holds a newline and whose environment is cleared is still swept")
    func oddlyNamedLeftoverDies() async throws {
        let server = try SSHServer.start(address: "127.0.0.2")
        defer { server.stop() }
        let odd = directory.appendingPathComponent("x\ny").path
        try FileManager.default.copyItem(atPath: "/bin/sleep", toPath: odd)
        let pidFile = directory.appendingPathComponent("odd").path
        let text = Self.onHost(
            port: server.port,
            steps: """
                  - id: leave
                    run: [sh, -c, 'env -i "$1" 300 & echo $! > \(pidFile); exit 0', leave, '\(odd.replacingOccurrences(of: "\n", with: "\\n"))']
                    timeout: 20s
                """)
        let (report, _) = try await run(text, config: server.configFile)
        #expect(report.outcome == .succeeded, "\(report.steps.first?.attempts.first?.result.stderr ?? "")")
        let pid = try #require(Int32((read("odd") ?? "").trimmingCharacters(in: .whitespacesAndNewlines)))
        for _ in 0..<50 where kill(pid, 0) == 0 { try await Task.sleep(for: .milliseconds(100)) }
        let alive = kill(pid, 0) == 0
        if alive { kill(pid, SIGKILL) }
        #expect(!alive, "pid \(pid) still runs")
    }

    @Test("a master killed with SIGKILL leaves a stale socket: the next step replaces it and leaves no stray connection")
    func staleMasterIsReplaced() async throws {
        let server = try SSHServer.start(address: "127.0.0.2")
        defer { server.stop() }
        let control = try Self.controlDirectory()
        defer { try? FileManager.default.removeItem(atPath: control) }
        let settings = SSHSettings(configFile: server.configFile.path, controlDirectory: control)
        let runner = SubprocessRunner(ssh: settings)
        let target = ResolvedTarget(host: "127.0.0.2", user: nil, port: server.port)
        let request = AttemptRequest(
            step: "s", phase: .main, attempt: 1, command: .argv(["true"]), environment: ["PATH": "/usr/bin:/bin"],
            timeout: .seconds(20), target: target)
        #expect(await runner.run(request, stop: StopSignal()).succeeded)
        let check = ["-F", server.configFile.path, "-o", "ControlPath=\(control)/%C", "-p", "\(server.port)", "-O", "check", "--", "127.0.0.2"]
        let first = try SSHServer.run("ssh", check).output
        let pid = try #require(first.split(separator: "=").last.flatMap { Int32($0.prefix { $0.isNumber }) }, "\(first)")
        kill(pid, SIGKILL)
        #expect(await runner.run(request, stop: StopSignal()).succeeded)
        #expect(try SSHServer.run("ssh", check).status == 0)
        let connections = Processes.matching { $0.contains(control) && $0.contains("\0-N\0") }
        #expect(connections.count == 1, "\(connections)")
        await SSHTransport.closeConnections(settings)
    }
}
