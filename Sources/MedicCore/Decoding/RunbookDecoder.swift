import Foundation

/// Decodes a `DocumentNode` tree into a `Runbook`, reporting every structural problem on the way.
///
/// The decoder keeps going after a problem: a bad value is reported and left at its default, so a single run
/// lists every problem of the file. Indices are preserved (a broken step is still a step), so later checks
/// can address `steps[i]` by position.
public struct RunbookDecoder {
    private var reader = NodeReader()

    public init() {}

    public static func decode(_ root: DocumentNode) -> (Runbook?, [Diagnostic]) {
        var decoder = RunbookDecoder()
        let runbook = decoder.decodeRunbook(root)
        return (runbook, decoder.reader.diagnostics)
    }

    private mutating func decodeRunbook(_ root: DocumentNode) -> Runbook? {
        guard root.mapping != nil else {
            reader.diagnostics.append(Diagnostic(.notAMapping, at: .location(root.location)))
            return nil
        }
        let path = DocumentPath.root
        guard let fields = reader.fields(root, at: path, what: "runbook", allowed: DSLKeys.runbook) else { return nil }
        var runbook = Runbook(id: "")
        if let node = fields["runbook"] {
            if let id = reader.string(node, at: path / "runbook") {
                if Identifier.isRunbookID(id) {
                    runbook.id = id
                } else {
                    reader.report(
                        .invalidIdentifier(id, kind: "runbook id", shape: "[a-z0-9][a-z0-9-]*"), at: path / "runbook")
                }
            }
        } else {
            reader.diagnostics.append(
                Diagnostic(.missingKey("runbook", in: "runbook file"), at: .location(root.location)))
        }
        runbook.description = fields["description"].flatMap { reader.string($0, at: path / "description") }
        runbook.owner = fields["owner"].flatMap { reader.string($0, at: path / "owner") }
        if let node = fields["params"] {
            runbook.params = decodeParams(node, at: path / "params")
        }
        if let node = fields["triggers"] {
            runbook.triggers = decodeTriggers(node, at: path / "triggers")
        }
        if let node = fields["policy"] {
            runbook.policy = decodePolicy(node, at: path / "policy")
        }
        if let node = fields["target"] {
            runbook.target = decodeTarget(node, at: path / "target")
        }
        if let node = fields["verify"] {
            runbook.verify = decodeVerify(node, at: path / "verify")
        }
        if let node = fields["steps"] {
            runbook.steps = decodeSteps(node, at: path / "steps")
        } else {
            reader.diagnostics.append(Diagnostic(.missingKey("steps", in: "runbook"), at: .location(root.location)))
        }
        return runbook
    }

    // MARK: Params

    private mutating func decodeParams(_ node: DocumentNode, at path: DocumentPath) -> [Param] {
        guard let entries = reader.entries(node, at: path, what: "params, by name") else { return [] }
        var params: [Param] = []
        for (name, value) in entries {
            let paramPath = path / name
            if !Identifier.isParamName(name) {
                reader.report(
                    .invalidIdentifier(name, kind: "param name", shape: "[A-Za-z_][A-Za-z0-9_]*"), at: paramPath,
                    key: true)
            }
            if let param = decodeParam(name: name, value, at: paramPath) {
                params.append(param)
            }
        }
        return params
    }

    private mutating func decodeParam(name: String, _ node: DocumentNode, at path: DocumentPath) -> Param? {
        guard let fields = reader.fields(node, at: path, what: "param '\(name)'", allowed: DSLKeys.param) else {
            return Param(name: name)
        }
        var param = Param(name: name)
        if let type = fields["type"] {
            param.type = reader.choice(type, at: path / "type", as: ParamType.self) ?? .string
        }
        param.description = fields["description"].flatMap { reader.string($0, at: path / "description") }
        if let source = fields["from"], let text = reader.string(source, at: path / "from") {
            if let parsed = ParamSource(text) {
                param.source = parsed
            } else {
                reader.report(.invalidSource(text), at: path / "from")
            }
        }
        if let extract = fields["extract"], let text = reader.string(extract, at: path / "extract") {
            if reader.checkRegex(text, at: path / "extract", node: extract) {
                if let regex = try? GoRegex.alertmanager(text), regex.captureCount == 0 {
                    reader.report(.extractWithoutGroup(text), at: path / "extract")
                } else {
                    param.extract = text
                }
            }
        }
        if let pattern = fields["pattern"], let text = reader.string(pattern, at: path / "pattern") {
            if reader.checkRegex(text, at: path / "pattern", node: pattern) { param.pattern = text }
        }
        if let secret = fields["secret"] {
            param.secret = reader.bool(secret, at: path / "secret") ?? false
        }
        if let node = fields["default"] {
            param.defaultValue = value(node, as: param.type, at: path / "default")
        }
        if let node = fields["min"] {
            param.min = bound(node, of: param, at: path / "min")
        }
        if let node = fields["max"] {
            param.max = bound(node, of: param, at: path / "max")
        }
        if let node = fields["enum"] {
            if let items = node.sequence {
                let elementType: ParamType = param.type == .list ? .string : param.type
                param.allowed = items.enumerated().compactMap { index, item in
                    value(item, as: elementType, at: path / "enum" / index)
                }
                if items.isEmpty { reader.report(.emptyString, at: path / "enum") }
            } else {
                reader.report(
                    .wrongType(expected: "a list of allowed values", found: node.kindDescription), at: path / "enum")
            }
        }
        return param
    }

    private mutating func bound(_ node: DocumentNode, of param: Param, at path: DocumentPath) -> ParamValue? {
        switch param.type {
        case .int, .duration:
            return value(node, as: param.type, at: path)
        case .list:
            // For lists, min and max bound the number of elements.
            return reader.int(node, at: path).map(ParamValue.int)
        case .string, .bool:
            reader.report(
                .init(
                    id: "invalid-bound",
                    "`\(path.lastKey ?? "min")` applies to int, duration and list params, not \(param.type.rawValue)"),
                at: path, key: true)
            return nil
        }
    }

    /// A literal value of `type` as written in the runbook (defaults, bounds, enum members).
    private mutating func value(_ node: DocumentNode, as type: ParamType, at path: DocumentPath) -> ParamValue? {
        switch type {
        case .string:
            return reader.string(node, at: path, allowEmpty: true).map(ParamValue.string)
        case .int:
            return reader.int(node, at: path).map(ParamValue.int)
        case .bool:
            return reader.bool(node, at: path).map(ParamValue.bool)
        case .duration:
            return reader.duration(node, at: path, positive: false).map(ParamValue.duration)
        case .list:
            return reader.stringList(node, at: path).map(ParamValue.list)
        }
    }

    // MARK: Triggers

    private mutating func decodeTriggers(_ node: DocumentNode, at path: DocumentPath) -> [Trigger] {
        if node.scalar?.isNull == true { return [] }
        guard let items = node.sequence else {
            reader.report(.wrongType(expected: "a list of triggers", found: node.kindDescription), at: path)
            return []
        }
        return items.enumerated().map { index, item in decodeTrigger(item, at: path / index) }
    }

    /// Where `value` starts in a matcher item, at or after `from`, in scalars, when it is written there as is
    /// (no escapes); otherwise nil, and a regex error points at the item.
    static func offset(of value: String, in item: String, from: Int = 0) -> Int? {
        let haystack = Array(item.unicodeScalars)
        let needle = Array(value.unicodeScalars)
        guard !needle.isEmpty, from + needle.count <= haystack.count else { return nil }
        for start in from...(haystack.count - needle.count)
        where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return start
        }
        return nil
    }

    private mutating func decodeTrigger(_ node: DocumentNode, at path: DocumentPath) -> Trigger {
        var trigger = Trigger(matchers: [])
        guard let fields = reader.fields(node, at: path, what: "trigger", allowed: DSLKeys.trigger) else {
            return trigger
        }
        if let match = fields["match"] {
            if let items = match.sequence {
                if items.isEmpty { reader.report(.emptyMatch, at: path / "match") }
                for (index, item) in items.enumerated() {
                    let itemPath = path / "match" / index
                    guard let text = reader.string(item, at: itemPath) else { continue }
                    do throws(LabelMatcher.ParseError) {
                        // One item may hold several matchers (`foo=bar,dings!=bums`), as in Alertmanager, which
                        // also lets a reading whose regex compiles win over one whose regex does not. When no
                        // reading compiles, the regex error (with its position) says more than the parse error.
                        let compiles: (String) -> Bool = { (try? GoRegex.alertmanager($0)) != nil }
                        let matchers: [LabelMatcher]
                        if let readable = try? LabelMatcher.parseMatchers(text, regexIsValid: compiles) {
                            matchers = readable
                        } else {
                            matchers = try LabelMatcher.parseMatchers(text)
                        }
                        // Matchers appear in order: each value is looked for after the previous one.
                        var cursor = 0
                        for matcher in matchers {
                            let found = Self.offset(of: matcher.value, in: text, from: cursor)
                            if let found { cursor = found + matcher.value.unicodeScalars.count }
                            if matcher.op.isRegex,
                                !reader.checkRegex(matcher.value, at: itemPath, node: item, patternOffset: found)
                            {
                                continue
                            }
                            trigger.matchers.append(matcher)
                        }
                    } catch {
                        var diagnostic = Diagnostic(.malformedMatcher(text, error.message), at: .value(itemPath))
                        diagnostic.location = reader.inlineLocation(of: item, offset: error.offset - 1)
                        reader.diagnostics.append(diagnostic)
                    }
                }
            } else {
                reader.report(
                    .wrongType(
                        expected: "a list of matchers such as ['alertname=\"X\"', 'severity=~\"warning|critical\"']",
                        found: match.kindDescription),
                    at: path / "match")
            }
        } else {
            reader.report(.missingKey("match", in: "trigger"), at: path)
        }
        if let status = fields["status"] {
            trigger.status = reader.choice(status, at: path / "status", as: TriggerStatus.self) ?? .firing
        }
        if let groupBy = fields["group_by"], let labels = reader.stringList(groupBy, at: path / "group_by") {
            for (index, label) in labels.enumerated() where !Identifier.isLabelName(label) {
                reader.report(
                    .invalidIdentifier(label, kind: "label name", shape: "[a-zA-Z_][a-zA-Z0-9_]*"),
                    at: path / "group_by" / index)
            }
            trigger.groupBy = labels
        }
        if let cooldown = fields["cooldown"] {
            trigger.cooldown = reader.duration(cooldown, at: path / "cooldown")
        }
        return trigger
    }

    // MARK: Policy

    private mutating func decodePolicy(_ node: DocumentNode, at path: DocumentPath) -> Policy {
        var policy = Policy()
        guard let fields = reader.fields(node, at: path, what: "policy", allowed: DSLKeys.policy) else { return policy }
        if let mode = fields["mode"] {
            policy.mode = reader.choice(mode, at: path / "mode", as: Policy.Mode.self) ?? .autonomous
        }
        if let concurrency = fields["concurrency"] {
            policy.concurrency = reader.template(concurrency, at: path / "concurrency")
        }
        if let node = fields["max_runs"],
            let limit = reader.fields(node, at: path / "max_runs", what: "max_runs", allowed: DSLKeys.maxRuns)
        {
            let count = required(limit, "count", in: "max_runs", at: path / "max_runs") { r, n, p in
                r.positiveInt(n, at: p)
            }
            let per = required(limit, "per", in: "max_runs", at: path / "max_runs") { r, n, p in r.duration(n, at: p) }
            if let count, let per { policy.maxRuns = Policy.RateLimit(count: count, per: per) }
        }
        if let node = fields["circuit_breaker"],
            let breaker = reader.fields(
                node, at: path / "circuit_breaker", what: "circuit_breaker", allowed: DSLKeys.circuitBreaker)
        {
            let failures = required(breaker, "failures", in: "circuit_breaker", at: path / "circuit_breaker") {
                r, n, p in
                r.positiveInt(n, at: p)
            }
            let within = required(breaker, "within", in: "circuit_breaker", at: path / "circuit_breaker") { r, n, p in
                r.duration(n, at: p)
            }
            if let failures, let within {
                policy.circuitBreaker = Policy.CircuitBreaker(failures: failures, within: within)
            }
        }
        if let timeout = fields["timeout"] {
            policy.timeout = reader.duration(timeout, at: path / "timeout")
        }
        if let onFailure = fields["on_failure"] {
            policy.onFailure =
                reader.choice(onFailure, at: path / "on_failure", as: Policy.FailureHandling.self) ?? .rollback
        }
        if let onInterrupt = fields["on_interrupt"] {
            policy.onInterrupt =
                reader.choice(onInterrupt, at: path / "on_interrupt", as: Policy.InterruptHandling.self) ?? .record
        }
        if let inherit = fields["inherit_env"], let names = reader.stringList(inherit, at: path / "inherit_env") {
            for (index, name) in names.enumerated() where !Identifier.isEnvironmentName(name) {
                reader.report(
                    .invalidIdentifier(name, kind: "environment variable name", shape: "[A-Za-z_][A-Za-z0-9_]*"),
                    at: path / "inherit_env" / index)
            }
            policy.inheritEnv = names
        }
        if let queue = fields["queue"] {
            policy.queue = reader.bool(queue, at: path / "queue") ?? false
        }
        if let escalate = fields["escalate"],
            let body = reader.fields(escalate, at: path / "escalate", what: "escalate", allowed: DSLKeys.escalate)
        {
            if let flag = body["alertmanager"] {
                policy.escalateToAlertmanager = reader.bool(flag, at: path / "escalate" / "alertmanager") ?? false
            }
            // `{alertmanager: true}` alone posts to Alertmanager and runs nothing.
            if body["alertmanager"] == nil || body["run"] != nil || body["shell"] != nil {
                policy.escalate = decodeBody(body.filter { $0.key != "alertmanager" }, at: path / "escalate")
            }
        }
        if let node = fields["silence"],
            let silence = reader.fields(node, at: path / "silence", what: "silence", allowed: DSLKeys.silence)
        {
            policy.silenceFor = required(silence, "for", in: "silence", at: path / "silence") { r, n, p in
                r.duration(n, at: p)
            }
        }
        return policy
    }

    private mutating func decodeVerify(_ node: DocumentNode, at path: DocumentPath) -> Verify? {
        guard let fields = reader.fields(node, at: path, what: "verify", allowed: DSLKeys.verify) else { return nil }
        let within = required(fields, "within", in: "verify", at: path) { r, n, p in r.duration(n, at: p) }
        var verify = Verify(within: within ?? .zero)
        if let resolved = fields["resolved"] {
            verify.resolved = reader.bool(resolved, at: path / "resolved")
        }
        if let onUnverified = fields["on_unverified"] {
            verify.onUnverified =
                reader.choice(onUnverified, at: path / "on_unverified", as: Verify.OnUnverified.self) ?? .escalate
        }
        if let node = fields["probe"],
            let probe = reader.fields(node, at: path / "probe", what: "probe", allowed: DSLKeys.probe)
        {
            let every = required(probe, "every", in: "probe", at: path / "probe") { r, n, p in r.duration(n, at: p) }
            let body = decodeBody(probe, at: path / "probe")
            if let every { verify.probe = Verify.Probe(body: body, every: every) }
        }
        return within == nil ? nil : verify
    }

    private mutating func required<T>(
        _ fields: [String: DocumentNode], _ key: String, in what: String, at path: DocumentPath,
        _ read: (inout NodeReader, DocumentNode, DocumentPath) -> T?
    ) -> T? {
        guard let node = fields[key] else {
            reader.report(.missingKey(key, in: what), at: path)
            return nil
        }
        return read(&reader, node, path / key)
    }

    // MARK: Steps

    private mutating func decodeSteps(_ node: DocumentNode, at path: DocumentPath) -> [Step] {
        guard let items = node.sequence else {
            reader.report(.wrongType(expected: "a list of steps", found: node.kindDescription), at: path)
            return []
        }
        if items.isEmpty { reader.report(.emptySteps, at: path) }
        return items.enumerated().map { index, item in decodeStep(item, at: path / index) }
    }

    private mutating func decodeStep(_ node: DocumentNode, at path: DocumentPath) -> Step {
        var step = Step(id: "", body: StepBody(action: .run([])))
        guard let fields = reader.fields(node, at: path, what: "step", allowed: DSLKeys.step) else { return step }
        if let idNode = fields["id"] {
            if let id = reader.string(idNode, at: path / "id") {
                if Identifier.isStepID(id) {
                    step.id = id
                } else {
                    reader.report(
                        .invalidIdentifier(id, kind: "step id", shape: "[a-z0-9][a-z0-9_-]*"), at: path / "id")
                }
            }
        } else {
            reader.report(.missingKey("id", in: "step"), at: path)
        }
        step.description = fields["description"].flatMap { reader.string($0, at: path / "description") }
        if let node = fields["target"] {
            step.target = decodeTarget(node, at: path / "target")
        }
        step.body = decodeBody(fields, at: path)
        if let needs = fields["needs"] {
            step.needs =
                reader.stringList(needs, at: path / "needs", hint: "a list of step ids, e.g. [probe] or []") ?? []
        }
        if let when = fields["when"], let text = reader.string(when, at: path / "when") {
            switch ExpressionParser.parse(text) {
            case .success(let expression): step.when = expression
            case .failure(let error):
                var diagnostic = Diagnostic(.expressionSyntax(error.message), at: .value(path / "when"))
                diagnostic.location = reader.inlineLocation(of: when, offset: error.offset)
                reader.diagnostics.append(diagnostic)
            }
        }
        if let readonly = fields["readonly"] {
            step.readonly = reader.bool(readonly, at: path / "readonly") ?? false
        }
        if let continueOnFailure = fields["continue_on_failure"] {
            step.continueOnFailure = reader.bool(continueOnFailure, at: path / "continue_on_failure") ?? false
        }
        if let rollback = fields["rollback"],
            let rollbackFields = reader.fields(rollback, at: path / "rollback", what: "rollback", allowed: DSLKeys.body)
        {
            step.rollback = decodeBody(rollbackFields, at: path / "rollback")
        }
        return step
    }

    /// `local`, or `{ssh: TEMPLATE, user: NAME, port: INT}`.
    private mutating func decodeTarget(_ node: DocumentNode, at path: DocumentPath) -> StepTarget? {
        if let scalar = node.scalar {
            if scalar.text == "local" { return .local }
            reader.report(.invalidTarget(scalar.text), at: path)
            return nil
        }
        guard let fields = reader.fields(node, at: path, what: "target", allowed: DSLKeys.target) else { return nil }
        guard let hostNode = fields["ssh"] else {
            reader.report(.missingKey("ssh", in: "target"), at: path)
            return nil
        }
        guard let host = reader.template(hostNode, at: path / "ssh") else { return nil }
        var target = SSHTarget(host: host)
        if host.isLiteral, let problem = SSHTarget.problem(withHost: host.source) {
            reader.report(.invalidHost(problem), at: path / "ssh")
        }
        if let userNode = fields["user"], let user = reader.string(userNode, at: path / "user") {
            if SSHTarget.isUserName(user) {
                target.user = user
            } else {
                reader.report(
                    .invalidIdentifier(user, kind: "user name", shape: "letters, digits, '_', '-', '.', not starting with '-'"),
                    at: path / "user")
            }
        }
        if let portNode = fields["port"], let port = reader.int(portNode, at: path / "port") {
            if (1...65_535).contains(port) {
                target.port = port
            } else {
                reader.report(.outOfRange("port", "between 1 and 65535"), at: path / "port")
            }
        }
        return .ssh(target)
    }

    private mutating func decodeBody(_ fields: [String: DocumentNode], at path: DocumentPath) -> StepBody {
        var body = StepBody(action: .run([]))
        switch (fields["run"], fields["shell"]) {
        case (.some, .some):
            reader.report(.runAndShell, at: path / "shell", key: true)
        case (nil, nil):
            reader.report(.neitherRunNorShell, at: path)
        case (let run?, nil):
            let runPath = path / "run"
            if let items = run.sequence {
                if items.isEmpty { reader.report(.emptyRun, at: runPath) }
                body.action = .run(
                    items.enumerated().map { index, item in
                        reader.template(item, at: runPath / index) ?? Template(literal: "")
                    })
            } else if run.scalar != nil {
                reader.report(.runIsString, at: runPath)
            } else {
                reader.report(.wrongType(expected: "a list of arguments", found: run.kindDescription), at: runPath)
            }
        case (nil, let shell?):
            if let script = reader.string(shell, at: path / "shell") {
                body.action = .shell(script)
            }
        }
        if let env = fields["env"], let entries = reader.entries(env, at: path / "env", what: "env, NAME: value") {
            for (name, value) in entries {
                let entryPath = path / "env" / name
                if !Identifier.isEnvironmentName(name) {
                    reader.report(
                        .invalidIdentifier(name, kind: "environment variable name", shape: "[A-Za-z_][A-Za-z0-9_]*"),
                        at: entryPath, key: true)
                } else if name.hasPrefix("MEDIC_") {
                    reader.report(.reservedEnvironment(name), at: entryPath, key: true)
                }
                if let template = reader.template(value, at: entryPath) {
                    body.env.append(EnvironmentEntry(name: name, value: template))
                }
            }
        }
        if let workdir = fields["workdir"] {
            body.workdir = reader.template(workdir, at: path / "workdir")
        }
        if let timeout = fields["timeout"] {
            body.timeout = reader.duration(timeout, at: path / "timeout")
        }
        if let grace = fields["kill_grace"] {
            body.killGrace = reader.duration(grace, at: path / "kill_grace", positive: false)
        }
        if let retry = fields["retry"] {
            body.retry = decodeRetry(retry, at: path / "retry")
        }
        return body
    }

    private mutating func decodeRetry(_ node: DocumentNode, at path: DocumentPath) -> RetryPolicy? {
        guard let fields = reader.fields(node, at: path, what: "retry", allowed: DSLKeys.retry) else { return nil }
        guard let attempts = required(fields, "attempts", in: "retry", at: path, { r, n, p in r.positiveInt(n, at: p) })
        else { return nil }
        var retry = RetryPolicy(attempts: attempts)
        if let delay = fields["delay"] {
            retry.delay = reader.duration(delay, at: path / "delay", positive: false) ?? RetryPolicy.defaultDelay
        }
        if let backoff = fields["backoff"] {
            retry.backoff = reader.choice(backoff, at: path / "backoff", as: RetryPolicy.Backoff.self) ?? .fixed
        }
        if let maxDelay = fields["max_delay"] {
            retry.maxDelay = reader.duration(maxDelay, at: path / "max_delay")
        }
        if let jitter = fields["jitter"] {
            retry.jitter = decodeJitter(jitter, at: path / "jitter") ?? RetryPolicy.defaultJitter
        }
        if let onExit = fields["on_exit"] {
            if let items = onExit.sequence {
                retry.onExit = items.enumerated().compactMap { index, item in
                    guard let code = reader.int(item, at: path / "on_exit" / index) else { return nil }
                    guard (0...255).contains(code) else {
                        reader.report(.outOfRange("an exit code", "between 0 and 255"), at: path / "on_exit" / index)
                        return nil
                    }
                    return code
                }
            } else {
                reader.report(
                    .wrongType(expected: "a list of exit codes, e.g. [75]", found: onExit.kindDescription),
                    at: path / "on_exit")
            }
        }
        if let onTimeout = fields["on_timeout"] {
            retry.onTimeout = reader.bool(onTimeout, at: path / "on_timeout") ?? true
        }
        return retry
    }

    /// `jitter: true|false` or a fraction between 0 and 1.
    private mutating func decodeJitter(_ node: DocumentNode, at path: DocumentPath) -> Double? {
        if let scalar = node.scalar, scalar.style == .plain {
            if let flag = YAMLScalarKind.bool(scalar.text) { return flag ? RetryPolicy.defaultJitter : 0 }
            if let fraction = Double(scalar.text) {
                guard (0...1).contains(fraction) else {
                    reader.report(.outOfRange("jitter", "between 0 and 1"), at: path)
                    return nil
                }
                return fraction
            }
        }
        reader.report(
            .wrongType(expected: "true, false or a fraction between 0 and 1", found: node.kindDescription), at: path)
        return nil
    }
}
