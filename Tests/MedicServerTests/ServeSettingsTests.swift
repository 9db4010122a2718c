import Foundation
import Logging
import MedicServer
import Testing

@Suite struct ServeSettingsTests {
    static func resolve(
        _ flags: ServeSettings.Flags = .init(), config: String? = nil, environment: [String: String] = [:]
    ) -> Result<ServeSettings, ServeConfiguration.ProblemList> {
        ServeSettings.resolve(flags: flags, config: config, environment: environment)
    }

    @Test("without flags or file every setting has its documented default")
    func defaults() throws {
        let settings = try Self.resolve().get()
        #expect(settings.host == "127.0.0.1")
        #expect(settings.port == 9095)
        #expect(settings.runbooks == "runbooks")
        #expect(settings.audit == nil)
        #expect(settings.maxBodyBytes == 1 << 20)
        #expect(settings.maxConcurrentRuns == 8)
        #expect(settings.maxQueuedRuns == 256)
        #expect(settings.logLevel == .info)
        #expect(settings.logFormat == .auto)
        #expect(settings.shutdownGrace == .seconds(30))
        #expect(settings.dedupWindow == .seconds(24 * 3600))
        #expect(settings.intakeToken == nil && settings.apiToken == nil && settings.hmacSecret == nil)
    }

    @Test("a flag wins over the file, the file over the default")
    func precedence() throws {
        let config = try ServerFixtures.file(
            "listen: 127.0.0.1:7000\nmax_queued_runs: 10\nmax_concurrent_runs: 3\nlog_level: debug\ndedup_window: 48h\n")
        var flags = ServeSettings.Flags()
        flags.maxQueuedRuns = 20
        flags.listen = "127.0.0.1:8000"
        let settings = try Self.resolve(flags, config: config).get()
        #expect(settings.port == 8000)
        #expect(settings.maxQueuedRuns == 20)
        #expect(settings.maxConcurrentRuns == 3)
        #expect(settings.logLevel == .debug)
        #expect(settings.dedupWindow == .seconds(48 * 3600))
    }

    @Test("ssh_config comes from the flag or the file, and must be readable")
    func sshConfig() throws {
        #expect(try Self.resolve().get().sshConfig == nil)
        let sshConfig = try ServerFixtures.file("Host *\n  User remediator\n")
        let config = try ServerFixtures.file("ssh_config: \(sshConfig)\n")
        #expect(try Self.resolve(config: config).get().sshConfig == sshConfig)
        var flags = ServeSettings.Flags()
        flags.sshConfig = "/nonexistent/ssh_config"
        guard case .failure(let problems) = Self.resolve(flags, config: config) else {
            Issue.record("an unreadable ssh_config was accepted")
            return
        }
        #expect(problems.messages.contains { $0.contains("ssh_config: cannot read /nonexistent/ssh_config") })
    }

    @Test("alertmanager.url and token_file come from the file (or flags); a bad URL or key says where and why")
    func alertmanager() throws {
        let token = try ServerFixtures.file("am-secret\n")
        let config = try ServerFixtures.file(
            "alertmanager:\n  url: http://127.0.0.1:9093\n  token_file: \(token)\n")
        let settings = try Self.resolve(config: config).get()
        #expect(settings.alertmanagerURL?.absoluteString == "http://127.0.0.1:9093")
        #expect(settings.alertmanagerToken == "am-secret")
        var flags = ServeSettings.Flags()
        flags.alertmanagerURL = "alertmanager:9093"
        guard case .failure(let problems) = Self.resolve(flags) else {
            Issue.record("a URL without a scheme was accepted")
            return
        }
        #expect(problems.messages.contains { $0.hasPrefix("--alertmanager-url: expected an http:// or https:// URL") })
        let typo = try ServerFixtures.file("alertmanager:\n  ulr: http://127.0.0.1:9093\n")
        guard case .failure(let typoProblems) = Self.resolve(config: typo) else {
            Issue.record("an unknown alertmanager key was accepted")
            return
        }
        #expect(typoProblems.messages.contains { $0.contains("unknown setting 'alertmanager.ulr'; did you mean 'url'?") })
    }

    @Test("several bad values are reported together, each naming its flag or its key in the file")
    func everyProblemWithItsOrigin() throws {
        let config = try ServerFixtures.file("log_format: yaml\nmax_queued_runs: none\nshutdown_grace: soon\n")
        var flags = ServeSettings.Flags()
        flags.logLevel = "loud"
        flags.listen = "nowhere"
        flags.maxConcurrentRuns = 0
        flags.maxQueuedRuns = -1
        flags.dedupWindow = "0s"
        guard case .failure(let problems) = Self.resolve(flags, config: config) else {
            Issue.record("expected problems")
            return
        }
        // From the file, with their places.
        #expect(problems.messages.contains { $0.hasPrefix("\(config):2:1: 'max_queued_runs' must be a positive") })
        #expect(problems.messages.contains { $0.hasPrefix("\(config):3:1: 'shutdown_grace' must be a duration") })
        // Resolved values, named by where they came from.
        #expect(problems.messages.contains("log_format in \(config) takes auto, json or text, got 'yaml'"))
        #expect(problems.messages.contains { $0.hasPrefix("--log-level takes trace, debug") && $0.hasSuffix("'loud'") })
        #expect(problems.messages.contains("--listen takes HOST:PORT, got 'nowhere'"))
        #expect(problems.messages.contains("--max-concurrent-runs must be a positive whole number, got '0'"))
        #expect(problems.messages.contains("--max-queued-runs must be a positive whole number, got '-1'"))
        #expect(problems.messages.contains("--dedup-window takes a duration above zero such as 24h, got '0s'"))
        #expect(problems.messages.count == 8)
    }

    @Test("a non-loopback address needs tokens; secrets come from files or variables, trimmed, and are hidden")
    func secrets() throws {
        var open = ServeSettings.Flags()
        open.listen = "0.0.0.0:9095"
        guard case .failure(let refused) = Self.resolve(open) else {
            Issue.record("expected a refusal")
            return
        }
        #expect(
            refused.messages == [
                "refusing to listen on 0.0.0.0 without an intake token (or HMAC secret) and an API token, from --*-file "
                    + "or --*-env (or --insecure-no-auth)"
            ])
        var guarded = open
        guarded.intakeTokenFile = try ServerFixtures.file("intake-secret\n")
        guarded.apiTokenEnv = "MEDIC_TEST_API_TOKEN"
        let settings = try Self.resolve(guarded, environment: ["MEDIC_TEST_API_TOKEN": " api-secret "]).get()
        #expect(settings.intakeToken == "intake-secret")
        #expect(settings.apiToken == "api-secret")
        #expect(settings.secretVariables == ["MEDIC_TEST_API_TOKEN"])

        var both = ServeSettings.Flags()
        both.hmacSecretFile = "/nonexistent"
        both.hmacSecretEnv = "X"
        both.apiTokenEnv = "MEDIC_UNSET"
        guard case .failure(let problems) = Self.resolve(both) else {
            Issue.record("expected problems")
            return
        }
        #expect(
            problems.messages == [
                "--api-token-env: the environment variable MEDIC_UNSET is not set",
                "give --hmac-secret-file or --hmac-secret-env, not both",
            ])
    }
}

@Suite struct ReplicaSettingsTests {
    @Test("--replica-id and --lease: an empty or reserved name and a lease under 3 s are refused, naming the flag")
    func refused() {
        for (id, lease) in [("", "15s"), ("medic:sweeper", "15s"), ("import", "15s"), ("medic-a", "2s"), ("medic-a", "soon")] {
            var flags = ServeSettings.Flags()
            flags.replicaID = id
            flags.lease = lease
            guard case .failure(let problems) = ServeSettings.resolve(flags: flags, config: nil, environment: [:]) else {
                Issue.record("accepted replica id '\(id)', lease \(lease)")
                continue
            }
            #expect(problems.description.contains(id == "medic-a" ? "--lease" : "--replica-id"), "\(problems)")
        }
        var flags = ServeSettings.Flags()
        flags.replicaID = "medic-a"
        flags.lease = "9s"
        guard case .success(let settings) = ServeSettings.resolve(flags: flags, config: nil, environment: [:]) else {
            Issue.record("a good replica id and lease were refused")
            return
        }
        #expect(settings.replicaID == "medic-a" && settings.lease == .seconds(9))
    }
}
