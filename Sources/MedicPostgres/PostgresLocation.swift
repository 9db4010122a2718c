import Foundation
import NIOSSL
import PostgresNIO

/// Where a PostgreSQL audit store is, from a libpq connection URI
/// (`postgres[ql]://[user[:password]@][host][:port][/dbname][?param=value&...]`), with libpq's fallbacks:
/// `PGHOST`, `PGPORT`, `PGUSER`, `PGDATABASE`, `PGSSLMODE`, `PGPASSWORD`, and a passfile (`passfile=`,
/// `PGPASSFILE`, else `~/.pgpass`) when neither the URL nor `PGPASSWORD` gives a password.
///
/// A host beginning with `/` (in the URL as `%2F...` or as `?host=/dir`) is a Unix-socket directory; the socket is
/// `DIR/.s.PGSQL.PORT`, as libpq names it.
public struct PostgresLocation: Sendable, Equatable {
    public enum SSLMode: String, Sendable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var sslMode: SSLMode
    /// A PEM file of trusted roots for `verify-ca` and `verify-full`.
    public var sslRootCert: String?
    public var connectTimeout: Duration
    public var applicationName: String?

    public var isUnixSocket: Bool { host.hasPrefix("/") }

    /// True for text that names a PostgreSQL store rather than a SQLite file.
    public static func isURL(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    /// A problem with the URL or the password sources: says which part and why.
    public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
        init(_ message: String) { self.message = message }
    }

    public init(url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(Problem) {
        guard let schemeEnd = url.range(of: "://"), Self.isURL(url) else {
            throw Problem("not a PostgreSQL URL (it must start with postgres:// or postgresql://)")
        }
        var rest = Substring(url[schemeEnd.upperBound...])
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var userInfo: Substring?
        if let at = rest.lastIndex(of: "@") {
            userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
        }
        var parameters: [String: String] = [:]
        if let userInfo {
            let parts = userInfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            parameters["user"] = try Self.decode(parts[0], what: "the user name")
            if parts.count == 2 {
                // Never echoed: an error about the password must not print it.
                guard let password = String(parts[1]).removingPercentEncoding else {
                    throw Problem("the password has an invalid %-escape (write % as %25)")
                }
                parameters["password"] = password
            }
        }
        if rest.contains(",") {
            throw Problem(
                "several hosts (\(rest)) are not supported: put one address in front of the primary (a virtual IP or PgBouncer)"
            )
        }
        var hostText = rest
        if hostText.hasPrefix("[") {
            guard let close = hostText.firstIndex(of: "]") else {
                throw Problem("the IPv6 address in '\(rest)' has no closing ']'")
            }
            let after = hostText[hostText.index(after: close)...]
            if after.hasPrefix(":") { parameters["port"] = String(after.dropFirst()) } else if !after.isEmpty {
                throw Problem("unexpected '\(after)' after the IPv6 address")
            }
            hostText = hostText[hostText.index(after: hostText.startIndex)..<close]
        } else if let colon = hostText.lastIndex(of: ":") {
            parameters["port"] = String(hostText[hostText.index(after: colon)...])
            hostText = hostText[..<colon]
        }
        if !hostText.isEmpty { parameters["host"] = try Self.decode(hostText, what: "the host") }
        if !path.isEmpty { parameters["dbname"] = try Self.decode(path, what: "the database name") }
        for item in query.split(separator: "&") where !item.isEmpty {
            let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2 else { throw Problem("the parameter '\(item)' has no '=value'") }
            let name = try Self.decode(pair[0], what: "a parameter name")
            guard Self.knownParameters.contains(name) else {
                throw Problem(
                    "unknown parameter '\(name)' (known: \(Self.knownParameters.sorted().joined(separator: ", ")))")
            }
            parameters[name == "hostaddr" ? "host" : name] = try Self.decode(pair[1], what: "the value of \(name)")
        }

        func setting(_ name: String, _ variable: String) -> String? {
            if let value = parameters[name], !value.isEmpty { return value }
            if let value = environment[variable], !value.isEmpty { return value }
            return nil
        }
        host = setting("host", "PGHOST") ?? "/var/run/postgresql"
        let portText = setting("port", "PGPORT") ?? "5432"
        guard let port = Int(portText), (1...65535).contains(port) else {
            // Shown only when it came from PGPORT: in the URL, a password with an unescaped '/', '?' or '#' splits
            // the URL early, and what looks like the port may be part of it.
            let shown = parameters["port"] == nil ? " '\(portText)' (PGPORT)" : ""
            throw Problem(
                "the port\(shown) is not a number from 1 to 65535 (in a URL, a password holding '/', '?', '#' or '@' must be %-escaped)")
        }
        self.port = port
        user = setting("user", "PGUSER") ?? Self.currentUser()
        database = setting("dbname", "PGDATABASE") ?? user
        let modeText = setting("sslmode", "PGSSLMODE") ?? "prefer"
        guard let mode = SSLMode(rawValue: modeText) else {
            throw Problem(
                "sslmode '\(modeText)' is not one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        sslMode = mode
        sslRootCert = setting("sslrootcert", "PGSSLROOTCERT")
        let timeoutText = setting("connect_timeout", "PGCONNECT_TIMEOUT") ?? "10"
        guard let timeout = Int(timeoutText), timeout >= 0 else {
            throw Problem("connect_timeout '\(timeoutText)' is not a whole number of seconds")
        }
        // libpq: 0 means wait forever; Medic bounds it (a hung connect must not hold intake forever).
        connectTimeout = .seconds(timeout == 0 ? 60 : max(2, timeout))
        applicationName = setting("application_name", "PGAPPNAME")
        if let password = parameters["password"], !password.isEmpty {
            self.password = password
        } else if let password = environment["PGPASSWORD"], !password.isEmpty {
            self.password = password
        } else {
            let passfile =
                setting("passfile", "PGPASSFILE")
                ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.pgpass"
            password = try Self.passwordFromFile(
                passfile, explicit: setting("passfile", "PGPASSFILE") != nil, host: host, port: port,
                database: database, user: user)
        }
    }

    static let knownParameters: Set<String> = [
        "host", "hostaddr", "port", "user", "password", "dbname", "sslmode", "sslrootcert", "passfile",
        "connect_timeout", "application_name",
    ]

    /// The URL with the password removed: what messages and logs show.
    public var redacted: String {
        let hostPart = isUnixSocket ? "" : (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
        var text = "postgres://\(Self.encode(user))@\(hostPart)/\(Self.encode(database))"
        if isUnixSocket { text += "?host=\(Self.encode(host))&port=\(port)" }
        return text
    }

    /// postgres-nio's client configuration for this location.
    public func clientConfiguration() throws(Problem) -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if isUnixSocket {
            configuration = PostgresClient.Configuration(
                unixSocketPath: "\(host)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        } else {
            configuration = PostgresClient.Configuration(
                host: host, port: port, username: user, password: password, database: database, tls: try tls().base.client)
        }
        configuration.options.connectTimeout = connectTimeout
        if let applicationName {
            configuration.options.additionalStartupParameters.append(("application_name", applicationName))
        }
        return configuration
    }

    /// A single connection's configuration (for opening: it reports why a login fails, where the pool retries).
    public func connectionConfiguration() throws(Problem) -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        if isUnixSocket {
            configuration = PostgresConnection.Configuration(
                unixSocketPath: "\(host)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        } else {
            let tls: PostgresConnection.Configuration.TLS
            do {
                switch try self.tls().base {
                case .disable: tls = .disable
                case .prefer(let settings): tls = .prefer(try NIOSSLContext(configuration: settings))
                case .require(let settings): tls = .require(try NIOSSLContext(configuration: settings))
                }
            } catch let problem as Problem {
                throw problem
            } catch {
                throw Problem("cannot set up TLS: \(error)")
            }
            configuration = PostgresConnection.Configuration(
                host: host, port: port, username: user, password: password, database: database, tls: tls)
        }
        configuration.options.connectTimeout = .seconds(Int64(connectTimeout.components.seconds))
        if let applicationName {
            configuration.options.additionalStartupParameters.append(("application_name", applicationName))
        }
        return configuration
    }

    enum TLSChoice {
        case disable
        case prefer(TLSConfiguration)
        case require(TLSConfiguration)

        var client: PostgresClient.Configuration.TLS {
            switch self {
            case .disable: .disable
            case .prefer(let settings): .prefer(settings)
            case .require(let settings): .require(settings)
            }
        }
    }

    func tls() throws(Problem) -> (base: TLSChoice, Void) {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch sslMode {
        case .disable: return (.disable, ())
        // As libpq's: encrypt when the server offers it, without checking its certificate.
        case .allow, .prefer:
            tls.certificateVerification = .none
            return (.prefer(tls), ())
        case .require where sslRootCert == nil:
            tls.certificateVerification = .none
            return (.require(tls), ())
        case .require:
            // As libpq: with a root certificate, require checks the server's certificate (not its name).
            tls.certificateVerification = .noHostnameVerification
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(sslRootCert!))
            } catch {
                throw Problem("cannot read sslrootcert \(sslRootCert!): \(error)")
            }
            return (.require(tls), ())
        case .verifyCA, .verifyFull:
            tls.certificateVerification = sslMode == .verifyCA ? .noHostnameVerification : .fullVerification
            // As libpq: the trusted roots are sslrootcert, else ~/.postgresql/root.crt; never the system's store
            // (with verify-ca, which checks no name, any publicly issued certificate would pass).
            let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
            let sslRootCert = sslRootCert ?? "\(home)/.postgresql/root.crt"
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(sslRootCert))
            } catch {
                throw Problem(
                    "sslmode=\(sslMode.rawValue) needs trusted root certificates: cannot read \(sslRootCert) (give sslrootcert=FILE): \(error)"
                )
            }
            return (.require(tls), ())
        }
    }

    static func decode(_ text: Substring, what: String) throws(Problem) -> String {
        guard let decoded = String(text).removingPercentEncoding else {
            throw Problem("\(what) '\(text)' has an invalid %-escape")
        }
        return decoded
    }

    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    static func currentUser() -> String {
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return "postgres"
    }

    /// The password for this connection from a libpq passfile (`hostname:port:database:username:password`,
    /// `*` matching anything, `\:` and `\\` escaped), or nil when the file is missing or has no matching line.
    /// Like libpq, a file that group or others can read is not used; unlike libpq, that is an error, not a
    /// warning, because the connection would otherwise fail with a less helpful one.
    static func passwordFromFile(
        _ path: String, explicit: Bool, host: String, port: Int, database: String, user: String
    ) throws(Problem) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if explicit { throw Problem("the passfile \(path) does not exist") }
            return nil
        }
        guard info.st_mode & S_IFMT == S_IFREG else { throw Problem("the passfile \(path) is not a regular file") }
        if info.st_mode & 0o077 != 0 {
            throw Problem(
                "the passfile \(path) can be read by group or others (mode \(String(info.st_mode & 0o777, radix: 8))); libpq ignores such a file: chmod 600 it"
            )
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Problem("cannot read the passfile \(path)")
        }
        // A socket in the default directory matches "localhost", as in libpq.
        let hostName = host == "/var/run/postgresql" || host == "/run/postgresql" ? "localhost" : host
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            var fields: [String] = []
            var field = ""
            var escaped = false
            for character in line {
                if escaped {
                    field.append(character)
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == ":", fields.count < 4 {
                    fields.append(field)
                    field = ""
                } else {
                    field.append(character)
                }
            }
            fields.append(field)
            guard fields.count == 5 else { continue }
            let wanted = [hostName, String(port), database, user]
            if zip(fields.prefix(4), wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
        }
        return nil
    }
}
