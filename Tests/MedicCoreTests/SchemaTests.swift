import Foundation
import MedicCore
import Testing

@Suite struct SchemaTests {
    @Test("docs/runbook.schema.json is exactly what `medic schema` prints")
    func committedSchemaIsCurrent() throws {
        let committed = try String(
            contentsOf: Fixtures.packageRoot.appendingPathComponent("docs/runbook.schema.json"), encoding: .utf8)
        #expect(committed == RunbookSchema.json + "\n", "run `swift run medic schema > docs/runbook.schema.json`")
    }

    @Test("the schema lists every key the decoder accepts, and rejects unknown keys")
    func schemaCoversDSLKeys() throws {
        let data = Data(RunbookSchema.json.utf8)
        let schema = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(schema["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
        let properties = try #require(schema["properties"] as? [String: Any])
        #expect(Set(properties.keys) == Set(DSLKeys.runbook))
        #expect(schema["additionalProperties"] as? Bool == false)
        let defs = try #require(schema["$defs"] as? [String: Any])
        for (name, keys) in [
            ("step", DSLKeys.step), ("body", DSLKeys.body), ("retry", DSLKeys.retry), ("param", DSLKeys.param),
            ("trigger", DSLKeys.trigger), ("policy", DSLKeys.policy),
        ] {
            let def = try #require(defs[name] as? [String: Any])
            let defProperties = try #require(def["properties"] as? [String: Any])
            #expect(Set(defProperties.keys) == Set(keys), "\(name)")
            #expect(def["additionalProperties"] as? Bool == false, "\(name)")
        }
    }

    @Test("every shipped runbook validates against the schema (checked by Python's jsonschema)")
    func shippedRunbooksMatchSchema() throws {
        let script = """
            import glob, json, sys, yaml, jsonschema
            schema = json.load(open(sys.argv[1]))
            jsonschema.Draft202012Validator.check_schema(schema)
            validator = jsonschema.Draft202012Validator(schema)
            bad = 0
            files = sorted(glob.glob(sys.argv[2] + '/*.yaml'))
            for path in files:
                for error in validator.iter_errors(yaml.safe_load(open(path))):
                    bad += 1
                    print(path, list(error.path), error.message)
            # A runbook with an unknown key must fail, or the schema catches nothing.
            broken = yaml.safe_load(open(files[0]))
            broken['steps'][0]['retires'] = 3
            if validator.is_valid(broken):
                print('unknown key not caught'); bad += 1
            print(len(files), 'checked')
            sys.exit(1 if bad else 0)
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", "-c", script, Fixtures.packageRoot.appendingPathComponent("docs/runbook.schema.json").path,
            Fixtures.runbooks.path,
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(text.contains("6 checked"))
    }
}
