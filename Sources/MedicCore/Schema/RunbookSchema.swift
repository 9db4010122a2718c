import Foundation

/// The JSON Schema (draft 2020-12) of the runbook DSL, built from the same key lists the decoder enforces.
///
/// The schema describes shape and types for editors; `medic validate` remains the authority (it also checks
/// references, the step graph, regexes and param rules).
public enum RunbookSchema {
    public static let schemaID = "https://medic.dev/schemas/runbook-v1.json"

    public static var json: String { document.rendered() }

    static let durationPattern = "^\\s*([0-9]+(ms|s|m|h|d))+\\s*$"

    static func object(
        _ keys: [String], _ properties: [String: JSONValue], required: [String] = [], description: String
    )
        -> JSONValue
    {
        // Every key the decoder accepts has a schema entry, and nothing else does.
        precondition(
            Set(keys) == Set(properties.keys),
            "schema and DSLKeys disagree: \(Set(keys).symmetricDifference(properties.keys))")
        var members: [String: JSONValue] = [
            "type": "object", "additionalProperties": false, "properties": .object(properties),
            "description": .string(description),
        ]
        if !required.isEmpty { members["required"] = .array(required.map(JSONValue.string)) }
        return .object(members)
    }

    static func ref(_ name: String, _ description: String) -> JSONValue {
        ["$ref": .string("#/$defs/\(name)"), "description": .string(description)]
    }

    static func string(_ description: String, pattern: String? = nil) -> JSONValue {
        var members: [String: JSONValue] = ["type": "string", "description": .string(description)]
        if let pattern { members["pattern"] = .string(pattern) }
        return .object(members)
    }

    static func choice(_ values: [String], _ description: String) -> JSONValue {
        ["type": "string", "enum": .array(values.map(JSONValue.string)), "description": .string(description)]
    }

    static func boolean(_ description: String) -> JSONValue {
        ["type": "boolean", "description": .string(description)]
    }

    static func integer(_ description: String, minimum: Int? = nil, maximum: Int? = nil) -> JSONValue {
        var members: [String: JSONValue] = ["type": "integer", "description": .string(description)]
        if let minimum { members["minimum"] = .number(Double(minimum)) }
        if let maximum { members["maximum"] = .number(Double(maximum)) }
        return .object(members)
    }

    static func list(_ items: JSONValue, _ description: String, minItems: Int? = nil) -> JSONValue {
        var members: [String: JSONValue] = ["type": "array", "items": items, "description": .string(description)]
        if let minItems { members["minItems"] = .number(Double(minItems)) }
        return .object(members)
    }

    static var bodyProperties: [String: JSONValue] {
        [
            "run": list(
                [
                    "type": ["string", "number", "boolean"],
                    "description": "One argument; templates render into exactly this argument.",
                ],
                "The command as an argv list. Never split, never given to a shell.", minItems: 1),
            "shell": string(
                "A /bin/sh -eu script. May not contain {{ }}: values reach it only as environment variables."),
            "env": [
                "type": "object", "description": "Extra environment variables (values are templates).",
                "propertyNames": ["pattern": "^[A-Za-z_][A-Za-z0-9_]*$"],
                "additionalProperties": ["type": ["string", "number", "boolean"]],
            ],
            "workdir": ref("template", "Working directory for the command."),
            "timeout": ref("duration", "Per-attempt deadline; on expiry the process group gets SIGTERM, then SIGKILL."),
            "kill_grace": ref("duration", "Time between SIGTERM and SIGKILL on timeout (default 5s)."),
            "retry": ref("retry", "How failed attempts are retried."),
        ]
    }

    static var document: JSONValue {
        let stepProperties = bodyProperties.merging([
            "id": string("Step id, unique in the runbook.", pattern: "^[a-z0-9][a-z0-9_-]*$"),
            "description": string("What the step does, for people."),
            "needs": list(
                string("A step id."), "Steps this one waits for. Absent: the step listed before. []: starts at once."),
            "when": ["type": ["string", "boolean"], "description": "Condition; when false the step is skipped."],
            "readonly": boolean("A probe that changes nothing: dry-run may execute it (default false)."),
            "continue_on_failure": boolean("A failure of this step does not fail the run (default false)."),
            "rollback": ref("body", "Undoes this step when the run fails after it succeeded."),
            "target": ref("target", "Where this step (and its rollback) runs; overrides the runbook's target."),
        ]) { first, _ in first }
        var step = object(DSLKeys.step, stepProperties, required: ["id"], description: "One step of the graph.")
        var body = object(DSLKeys.body, bodyProperties, description: "A command with its limits (used by rollback).")
        let exactlyOne: JSONValue = ["oneOf": [["required": ["run"]], ["required": ["shell"]]]]
        if case .object(var members) = step, case .object(let extra) = exactlyOne {
            members.merge(extra) { first, _ in first }
            step = .object(members)
        }
        if case .object(var members) = body, case .object(let extra) = exactlyOne {
            members.merge(extra) { first, _ in first }
            body = .object(members)
        }

        let param = object(
            DSLKeys.param,
            [
                "type": choice(ParamType.allCases.map(\.rawValue), "Value type (default string)."),
                "description": string("What the param means, for people."),
                "from": string(
                    "Where the value comes from: alert.labels.NAME, alert.annotations.NAME, alert.fingerprint or env.NAME.",
                    pattern:
                        "^(alert\\.labels\\.[A-Za-z_][A-Za-z0-9_]*|alert\\.annotations\\.[A-Za-z_][A-Za-z0-9_]*|alert\\.fingerprint|env\\.[A-Za-z_][A-Za-z0-9_]*)$"
                ),
                "default": [
                    "type": ["string", "number", "boolean", "array"],
                    "description": "Value used when no other source gives one.",
                ],
                "pattern": string("Go regular expression (RE2 syntax), fully anchored as Alertmanager anchors matchers, that every value must match."),
                "min": ["type": ["number", "string"], "description": "Lower bound (int, duration; list length)."],
                "max": ["type": ["number", "string"], "description": "Upper bound (int, duration; list length)."],
                "enum": list(["type": ["string", "number", "boolean"]], "The only values allowed.", minItems: 1),
                "secret": boolean("Redact the value everywhere (default false)."),
                "extract": string(
                    "Go regular expression with a capturing group, matched against the whole raw value; the value becomes what the first group captured."
                ),
            ], description: "A typed input.")

        let trigger = object(
            DSLKeys.trigger,
            [
                "match": list(
                    string(
                        "One Alertmanager matchers item: name=\"v\", name!=\"v\", name=~\"re\", name!~\"re\", several separated by commas, optionally in braces (read as Alertmanager 0.27+ reads a route's matchers item)."
                    ),
                    "All matchers must hold (AND).", minItems: 1),
                "status": choice(
                    TriggerStatus.allCases.map(\.rawValue), "Alert status that starts the runbook (default firing)."),
                "group_by": list(
                    string("A label name.", pattern: "^[A-Za-z_][A-Za-z0-9_]*$"),
                    "Labels forming the dedup and cooldown key (default: the alert fingerprint)."),
                "cooldown": ref("duration", "No second run for the same key within this window."),
            ], required: ["match"], description: "One way an alert starts the runbook; any trigger may fire (OR).")

        let policy = object(
            DSLKeys.policy,
            [
                "mode": choice(Policy.Mode.allCases.map(\.rawValue), "autonomous (default), shadow, or approval."),
                "concurrency": ref("template", "Lock key: at most one run per rendered key, across all runbooks."),
                "max_runs": object(
                    DSLKeys.maxRuns,
                    [
                        "count": integer("Runs allowed per window.", minimum: 1),
                        "per": ref("duration", "Window length."),
                    ],
                    required: ["count", "per"], description: "Blast-radius cap for this runbook."),
                "circuit_breaker": object(
                    DSLKeys.circuitBreaker,
                    [
                        "failures": integer("Failed runs that open the breaker.", minimum: 1),
                        "within": ref("duration", "Window in which failures are counted."),
                    ], required: ["failures", "within"], description: "Stop acting on a key after repeated failures."),
                "timeout": ref("duration", "Deadline for the whole run, rollback excluded."),
                "on_failure": choice(Policy.FailureHandling.allCases.map(\.rawValue), "rollback (default) or stop."),
                "inherit_env": list(
                    string("An environment variable name.", pattern: "^[A-Za-z_][A-Za-z0-9_]*$"),
                    "Variables of Medic's own environment that steps may see."),
                "queue": boolean(
                    "When the concurrency lock is held, wait for it instead of suppressing (default false)."),
                "escalate": object(
                    DSLKeys.escalate,
                    bodyProperties.merging([
                        "alertmanager": boolean(
                            "Also post a MedicEscalation alert to Alertmanager (needs medic serve --alertmanager-url).")
                    ]) { _, new in new },
                    description:
                        "When a run ends needing people: a command that pages a human (run/shell), a MedicEscalation alert (alertmanager: true), or both."
                ),
                "silence": object(
                    DSLKeys.silence, ["for": ref("duration", "How long the silence lasts at most.")], required: ["for"],
                    description:
                        "Silence the alert in Alertmanager while the run works; expired as soon as the run fails or is verified."
                ),
                "on_interrupt": choice(
                    Policy.InterruptHandling.allCases.map(\.rawValue),
                    "After Medic died mid-run: record it as interrupted (default), or roll back its succeeded steps."),
            ], description: "What the runbook may do on its own.")

        let retry = object(
            DSLKeys.retry,
            [
                "attempts": integer("Attempts in all, the first included.", minimum: 1),
                "delay": ref("duration", "Wait before the first retry (default 1s)."),
                "backoff": choice(RetryPolicy.Backoff.allCases.map(\.rawValue), "fixed (default) or exponential."),
                "max_delay": ref("duration", "Upper bound for the growing delay."),
                "jitter": [
                    "description":
                        "true, false, or a fraction: each delay is scaled by a random factor in [1-j, 1+j] (default 0.1).",
                    "oneOf": [["type": "boolean"], ["type": "number", "minimum": 0, "maximum": 1]],
                ],
                "on_exit": list(integer("An exit code.", minimum: 0, maximum: 255), "Retry only these exit codes."),
                "on_timeout": boolean("Retry timed-out attempts (default true)."),
            ], required: ["attempts"], description: "Retry policy.")

        let verify = object(
            DSLKeys.verify,
            [
                "within": ref("duration", "Deadline for the proof, counted from the run's success."),
                "resolved": boolean(
                    "The alert must resolve within the window (default: true for runs an alert started)."),
                "probe": object(
                    DSLKeys.probe,
                    bodyProperties.merging([
                        "every": ref("duration", "Wait between probe attempts; the first runs at the run's success.")
                    ]) { _, new in new },
                    required: ["every"],
                    description: "A readonly check re-run until it exits 0; runs where the runbook's target says."),
                "on_unverified": choice(
                    Verify.OnUnverified.allCases.map(\.rawValue),
                    "escalate (default), rollback (undo the run's steps), or record."),
            ], required: ["within"], description: "What proves that a run which succeeded fixed the fault.")

        let root = object(
            DSLKeys.runbook,
            [
                "runbook": string("Runbook id, unique in a directory.", pattern: "^[a-z0-9][a-z0-9-]*$"),
                "description": string("What the runbook fixes, for people."),
                "owner": string("Team or person responsible."),
                "params": [
                    "type": "object", "description": "Typed inputs, by name.",
                    "propertyNames": ["pattern": "^[A-Za-z_][A-Za-z0-9_]*$"],
                    "additionalProperties": ["$ref": "#/$defs/param"],
                ],
                "triggers": list(["$ref": "#/$defs/trigger"], "Alerts that start this runbook."),
                "policy": ref("policy", "Safety policy."),
                "target": ref("target", "Where every step runs unless it says otherwise (default local)."),
                "verify": verify,
                "steps": list(["$ref": "#/$defs/step"], "The step graph.", minItems: 1),
            ], required: ["runbook", "steps"], description: "A Medic runbook (DSL v1).")

        guard case .object(var members) = root else { return root }
        members["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        members["$id"] = .string(schemaID)
        members["title"] = "Medic runbook"
        members["$defs"] = [
            "duration": string("A duration such as 500ms, 10s, 5m, 1h or 1h30m.", pattern: durationPattern),
            "template": ["type": ["string", "number", "boolean"], "description": "Text with {{ reference }} holes."],
            "param": param, "trigger": trigger, "policy": policy, "retry": retry, "step": step, "body": body,
            "target": [
                "description": "local, or a host reached over SSH.",
                "oneOf": [
                    ["const": "local"],
                    object(
                        DSLKeys.target,
                        [
                            "ssh": ref("template", "The host: a hostname or IP address, usually a template."),
                            "user": string("Login user (default: from ssh_config).", pattern: "^[A-Za-z0-9_.][A-Za-z0-9_.-]*$"),
                            "port": ["type": "integer", "minimum": 1, "maximum": 65535, "description": "SSH port."],
                        ], required: ["ssh"], description: "A host reached over SSH."),
                ],
            ],
        ]
        return .object(members)
    }
}
