import ArgumentParser

/// The `medic` command line: parses, wires concrete types, runs, maps results to exit codes.
@main
struct Medic: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "medic",
        abstract: "Self-healing runbook automation: match alerts to runbooks and run them safely.",
        version: MedicVersion.current,
        subcommands: [
            ValidateCommand.self, ServeCommand.self, PlanCommand.self, RunCommand.self, MatchCommand.self,
            AuditCommand.self,
            BreakerCommand.self,
            SchemaCommand.self,
            BenchCommand.self,
        ]
    )
}

enum MedicVersion {
    static let current = "0.1.0-dev"
}

/// `--format text|json`, shared by every command that prints results.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}
