import Foundation
import MedicPostgres
import Testing

/// libpq's URI form, its environment fallbacks and its passfile, as `--audit postgres://...` reads them.
@Suite struct PostgresLocationTests {
    @Test("host, port, user, password, database and parameters, %-decoded")
    func fullURL() throws {
        let location = try PostgresLocation(
            url: "postgresql://al%40ice:p%3Ass%2Fw@db.example:6432/med%20ic?sslmode=require&application_name=medic-1",
            environment: [:])
        #expect(location.host == "db.example")
        #expect(location.port == 6432)
        #expect(location.user == "al@ice")
        #expect(location.password == "p:ss/w")
        #expect(location.database == "med ic")
        #expect(location.sslMode == .require)
        #expect(location.applicationName == "medic-1")
        #expect(location.redacted == "postgres://al%40ice@db.example:6432/med%20ic")
        #expect(!location.redacted.contains("p%3Ass"))
    }

    @Test("a Unix socket directory as host, IPv6 in brackets, and libpq's environment fallbacks")
    func socketsAndFallbacks() throws {
        let socket = try PostgresLocation(url: "postgres:///medic?host=/run/pg&port=5433", environment: ["PGUSER": "svc"])
        #expect(socket.isUnixSocket)
        #expect(socket.host == "/run/pg")
        #expect(socket.port == 5433)
        #expect(socket.user == "svc")
        let encoded = try PostgresLocation(url: "postgres://%2Ftmp%2Fpg/x", environment: [:])
        #expect(encoded.host == "/tmp/pg")
        let six = try PostgresLocation(url: "postgres://u@[::1]:7000/x", environment: [:])
        #expect(six.host == "::1" && six.port == 7000)
        let defaults = try PostgresLocation(
            url: "postgres://", environment: ["PGHOST": "pg1", "PGPORT": "6000", "PGDATABASE": "audit", "PGUSER": "m"])
        #expect(defaults.host == "pg1" && defaults.port == 6000 && defaults.database == "audit" && defaults.user == "m")
        #expect(defaults.sslMode == .prefer)
    }

    @Test("the password: the URL's, else PGPASSWORD, else the passfile's matching line")
    func passwordSources() throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "medic-pgpass-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let passfile = directory.appending(path: "pgpass").path
        try """
            # comment
            other:5432:*:m:wrong
            db1:5432:audit:m:pa\\:ss\\\\word
            *:*:*:*:fallback
            """.write(toFile: passfile, atomically: true, encoding: .utf8)
        chmod(passfile, 0o600)
        let url = "postgres://m@db1/audit?passfile=\(passfile)"
        #expect(try PostgresLocation(url: url, environment: [:]).password == #"pa:ss\word"#)
        #expect(try PostgresLocation(url: url, environment: ["PGPASSWORD": "env"]).password == "env")
        #expect(try PostgresLocation(url: "postgres://m:url@db1/audit?passfile=\(passfile)", environment: ["PGPASSWORD": "env"]).password == "url")
        #expect(try PostgresLocation(url: "postgres://m@db9/x", environment: ["PGPASSFILE": passfile]).password == "fallback")
        chmod(passfile, 0o644)
        #expect(throws: PostgresLocation.Problem.self) { try PostgresLocation(url: url, environment: [:]) }
        #expect(throws: PostgresLocation.Problem.self) {
            try PostgresLocation(url: "postgres://m@db1/audit?passfile=\(directory.path)/missing", environment: [:])
        }
    }

    @Test("malformed URLs say which part is wrong", arguments: [
        ("postgres://u@h:port/db", "the port is not a number"),
        ("postgres://u@h/db?sslmode=maybe", "sslmode 'maybe'"),
        ("postgres://u@h/db?nope=1", "unknown parameter 'nope'"),
        ("postgres://u@h1,h2/db", "several hosts"),
        ("postgres://u@[::1/db", "no closing ']'"),
        ("postgres://u@h/db?sslmode", "has no '=value'"),
        ("mysql://u@h/db", "not a PostgreSQL URL"),
    ])
    func malformed(url: String, says: String) {
        do {
            _ = try PostgresLocation(url: url, environment: [:])
            Issue.record("\(url) was accepted")
        } catch {
            #expect(error.description.contains(says), "\(error)")
        }
    }
}
