import ArgumentParser
import Foundation
import MedicCore
import MedicPostgres
import MedicStore

/// `medic match --runbooks DIR PAYLOAD_FILE`: which runbooks each alert of a payload would start, and why or
/// why not, label by label.
struct MatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "match",
        abstract: "Explain which runbooks an alert payload would start, and why or why not.",
        discussion: """
            For each alert: the runbooks that would run (with their params), those shadowed or suppressed and why, \
            and near misses (triggers that matched some matchers but not all, with the label value each failing \
            matcher saw). Without an audit database only stateless policies apply: cooldowns, locks, rate caps and \
            circuit breakers are not evaluated here. Always exits 0 when the inputs can be read.
            """
    )

    @Option(help: "The runbook directory.") var runbooks = "runbooks"
    @Flag(help: "Global shadow mode: every match is shadowed.") var shadow = false
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text
    @Option(
        help: ArgumentHelp(
            "An audit database whose history (cooldowns, dedup, locks, rate caps, breakers) applies too.",
            valueName: "path"))
    var audit: String?
    @Argument(help: "An alert payload file (Alertmanager v4, Grafana, or plain JSON).") var payload: String

    func run() async throws {
        let loaded: RunbookDirectory.Loaded
        do {
            loaded = try RunbookDirectory().load([runbooks])
        } catch {
            throw ValidationError(error.description)
        }
        var standardError = StandardError()
        let broken = loaded.sources.filter(\.hasErrors)
        if !broken.isEmpty {
            print(
                "medic: ignoring \(broken.count) invalid runbook file(s): \(broken.map(\.path).joined(separator: ", ")) (see medic validate)",
                to: &standardError)
        }
        guard let data = FileManager.default.contents(atPath: payload) else {
            throw ValidationError("cannot read payload file \(payload)")
        }
        let alerts: [Alert]
        do {
            alerts = try AlertPayloadDecoder.decode(data)
        } catch {
            print("medic: \(payload): \(error)", to: &standardError)
            throw ExitCode(1)
        }
        let matcher = AlertMatcher(runbooks: loaded.runbooks, globalShadow: shadow)
        var gate: PolicyGate?
        if let audit {
            if !PostgresLocation.isURL(audit), !FileManager.default.fileExists(atPath: audit) {
                throw ValidationError("no audit log at \(audit)")
            }
            let store: any AuditStore
            do {
                store = try await AuditLocation.open(audit, create: false)
            } catch {
                print("medic: \(error)", to: &standardError)
                throw ExitCode(1)
            }
            var rebuilt = PolicyGate(configuration: .init(globalShadow: shadow))
            let now = Date()
            let cutoff = rebuilt.replayCutoff(now: now, runbooks: loaded.runbooks)
            rebuilt.replay(try await store.policyHistory(since: cutoff), runbooks: loaded.runbooks, now: now)
            await store.close()
            gate = rebuilt
        }
        let now = Date()
        let explanations = alerts.map {
            matcher.explain($0, environment: ProcessInfo.processInfo.environment, gate: &gate, now: now)
        }
        switch format {
        case .json:
            print(JSONValue.object(["alerts": .array(explanations.map(\.json))]).rendered())
        case .text:
            print(
                "\(alerts.count) alert\(alerts.count == 1 ? "" : "s") in \(payload), \(loaded.runbooks.count) runbooks in \(runbooks) (stateless: cooldowns, locks, caps and breakers not evaluated)"
            )
            for explanation in explanations {
                print("")
                print(explanation.text)
            }
        }
    }
}

/// `medic breaker reset RUNBOOK [KEY]`: close an open circuit breaker, recorded in the audit log.
struct BreakerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "breaker", abstract: "Manage circuit breakers.", subcommands: [BreakerReset.self])
}

struct BreakerReset: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reset",
        abstract:
            "Close the circuit breaker of a runbook (every key, or one KEY such as instance=db1), so it may act again.")

    @OptionGroup var location: AuditLocation
    @Argument(help: "The runbook id.") var runbook: String
    @Argument(help: "The group key, as shown by medic match or the audit log (instance=db1,mountpoint=/).") var key:
        String?

    func run() async throws {
        try await Self.reporting {
            let log = try await location.open(create: false)
            try await log.append(PolicyGate.breakerRecord(opened: false, runbook: runbook, key: key, now: Date()))
            print(
                "breaker of \(runbook)\(key.map { " for \($0)" } ?? " (every key)") reset; recorded in \(location.display)"
            )
        }
    }
}
