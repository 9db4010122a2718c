import ArgumentParser
import MedicCore

/// `medic schema`: the JSON Schema (draft 2020-12) of the runbook DSL, for editors.
struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the JSON Schema (draft 2020-12) of the runbook DSL.",
        discussion: """
            For yaml-language-server, add to the top of a runbook: \
            # yaml-language-server: $schema=./runbook.schema.json
            """
    )

    @Option(help: "Output format (the schema is JSON either way).")
    var format: OutputFormat = .json

    func run() {
        print(RunbookSchema.json)
    }
}
