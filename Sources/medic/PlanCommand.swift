import ArgumentParser
import Foundation
import MedicCore
import MedicExecution

/// `medic plan RUNBOOK`: a dry run that shows exactly what would be executed, and executes nothing (only
/// readonly steps, and only with `--probe`).
struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Dry-run a runbook: resolved params, rendered commands, graph, timeouts, retries, rollback.",
        discussion:
            "Nothing is executed, except `readonly: true` steps when --probe is given. Exit 0, or 1 if it cannot be planned."
    )

    @OptionGroup var input: RunbookInput

    @Flag(help: "Run the readonly steps for real and use their output to decide later `when`s.")
    var probe = false

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    @Option(help: "ssh_config file for remote targets, for --probe (ssh -F FILE); default: the user's own.")
    var sshConfig: String?

    func validate() throws {
        try checkSSHConfig(sshConfig)
    }

    func run() async throws {
        try await Self.reporting {
            let (prepared, _, _) = try input.prepare(runID: "plan")
            let runner = SubprocessRunner(ssh: SSHSettings(configFile: sshConfig))
            let probes = probe ? await Prober(runner: runner).probe(prepared) : [:]
            if probe, !prepared.targets.isEmpty { await SSHTransport.closeConnections(runner.ssh) }
            let plan = RunPlan(prepared, probes: probes)
            switch format {
            case .json: print(plan.json.rendered())
            case .text: print(plan.text(probed: probe))
            }
        }
    }
}
