/// The keys each mapping of the DSL accepts. Decoding (unknown-key checks) and `medic schema` both read these.
public enum DSLKeys {
    public static let runbook = [
        "runbook", "description", "owner", "params", "triggers", "policy", "target", "verify", "steps",
    ]
    public static let param = [
        "type", "description", "from", "extract", "default", "pattern", "min", "max", "enum", "secret",
    ]
    public static let target = ["ssh", "user", "port"]
    public static let trigger = ["match", "status", "group_by", "cooldown"]
    public static let policy = [
        "mode", "concurrency", "max_runs", "circuit_breaker", "timeout", "on_failure", "inherit_env", "queue",
        "escalate", "on_interrupt", "silence",
    ]
    public static let escalate = body + ["alertmanager"]
    public static let silence = ["for"]
    public static let verify = ["within", "resolved", "probe", "on_unverified"]
    public static let probe = body + ["every"]
    public static let maxRuns = ["count", "per"]
    public static let circuitBreaker = ["failures", "within"]
    public static let body = ["run", "shell", "env", "workdir", "timeout", "kill_grace", "retry"]
    public static let step =
        ["id", "description", "target"] + body + ["needs", "when", "readonly", "continue_on_failure", "rollback"]
    public static let retry = ["attempts", "delay", "backoff", "max_delay", "jitter", "on_exit", "on_timeout"]
}
