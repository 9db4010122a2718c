/// Where a step runs: on the Medic host (`local`, the default) or on another host over SSH
/// (`{ssh: TEMPLATE, user: NAME, port: INT}`). A runbook's `target` applies to every step; a step's own
/// overrides it; a rollback runs where its step ran.
public enum StepTarget: Sendable, Equatable {
    case local
    case ssh(SSHTarget)
}

/// An SSH target as written: the host is a template (usually `{{ params.node }}`), rendered once per run.
public struct SSHTarget: Sendable, Equatable {
    public var host: Template
    /// Login user; nil leaves it to `ssh_config` (or the local user name).
    public var user: String?
    /// nil leaves it to `ssh_config` (or 22).
    public var port: Int?

    public init(host: Template, user: String? = nil, port: Int? = nil) {
        self.host = host
        self.user = user
        self.port = port
    }

    /// A login name `ssh -l` can take safely: POSIX-ish, never starting with `-`.
    public static func isUserName(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, first != "-", text.utf8.count <= 64 else { return false }
        return text.unicodeScalars.allSatisfy { scalar in
            Identifier.isLetter(scalar) || Identifier.isDigit(scalar) || scalar == "_" || scalar == "-" || scalar == "."
        }
    }

    /// Why `host` (rendered) cannot be given to ssh, or nil: it must be a hostname (letters, digits, `-`,
    /// `_` and dots, not starting with `-` or `.`) or an IPv4 or IPv6 literal. Anything else (whitespace, `@`,
    /// quotes, shell characters, an option such as `-oProxyCommand=…`) is refused before any step runs.
    public static func problem(withHost host: String) -> String? {
        if host.isEmpty { return "the host is empty" }
        if host.utf8.count > 253 { return "the host is longer than 253 bytes" }
        if host.hasPrefix("-") { return "a host may not start with '-' (ssh would read it as an option)" }
        let scalars = Array(host.unicodeScalars)
        let isIPv6 = scalars.contains(":")
        if isIPv6 {
            let hex = scalars.allSatisfy { $0 == ":" || $0 == "." || $0.properties.isASCIIHexDigit }
            guard hex, scalars.filter({ $0 == ":" }).count >= 2 else {
                return "'\(host)' is neither a hostname nor an IP address (a port belongs in `port:`, not in the host)"
            }
            return nil
        }
        for scalar in scalars
        where !(Identifier.isLetter(scalar) || Identifier.isDigit(scalar) || scalar == "-" || scalar == "_"
            || scalar == ".")
        {
            let shown = scalar.properties.isWhitespace ? "whitespace" : "'\(scalar)'"
            return "'\(host)' is not a hostname or IP address: it contains \(shown)"
        }
        if host.hasPrefix(".") || host.hasSuffix(".") || host.contains("..") {
            return "'\(host)' is not a hostname: empty label"
        }
        return nil
    }
}

/// A target with its host rendered and checked, as an attempt carries it to the process runner.
public struct ResolvedTarget: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var host: String
    public var user: String?
    public var port: Int?

    public init(host: String, user: String? = nil, port: Int? = nil) {
        self.host = host
        self.user = user
        self.port = port
    }

    /// `ssh://user@host:port`, as plans and audit records show it.
    public var description: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "ssh://" + (user.map { "\($0)@" } ?? "") + hostPart + (port.map { ":\($0)" } ?? "")
    }
}

extension Runbook {
    /// Where `step` runs: its own target, else the runbook's, else here.
    public func target(of step: Step) -> StepTarget {
        step.target ?? target ?? .local
    }
}
