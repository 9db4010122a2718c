import Logging
import MedicCore
import PostgresNIO

/// Medic's tables in PostgreSQL, as numbered migrations. `migrate` applies the missing ones in one transaction
/// under an advisory lock, so replicas starting together apply each once; a database already at a newer version
/// than this build knows is refused.
public enum PostgresSchema {
    /// The advisory lock key that serialises migrations (any fixed number; "medic" in ASCII).
    static let lockKey: Int64 = 0x6D_65_64_69_63

    /// Each migration is a list of single statements (the extended protocol takes one per query).
    static let migrations: [(description: String, statements: [String])] = [
        (
            "records, chain head, run index, append-only triggers",
            [
                """
                CREATE TABLE audit_record (
                    seq bigint PRIMARY KEY,
                    time text COLLATE "C" NOT NULL,
                    kind text NOT NULL,
                    run_id text COLLATE "C",
                    body text NOT NULL,
                    prev_hash text NOT NULL,
                    hash text NOT NULL,
                    -- The replica that appended the record (not part of the chain): each replica takes in the
                    -- policy records of the others.
                    writer text NOT NULL DEFAULT ''
                )
                """,
                "CREATE INDEX audit_record_by_run ON audit_record (run_id, seq)",
                "CREATE INDEX audit_record_by_kind ON audit_record (kind, seq)",
                "CREATE INDEX audit_record_by_time ON audit_record (time)",
                // The one row every append locks: the chain's last link.
                """
                CREATE TABLE audit_head (
                    id integer PRIMARY KEY CHECK (id = 1),
                    seq bigint NOT NULL,
                    hash text NOT NULL
                )
                """,
                "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '\(AuditRecord.genesisHash)')",
                """
                CREATE FUNCTION medic_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF TG_OP = 'DELETE' AND current_setting('medic.pruning', true) = 'on' THEN
                        RETURN OLD;
                    END IF;
                    RAISE EXCEPTION 'audit records are append-only';
                END
                $$
                """,
                """
                CREATE TRIGGER audit_record_append_only BEFORE UPDATE OR DELETE ON audit_record
                FOR EACH ROW EXECUTE FUNCTION medic_audit_append_only()
                """,
                """
                CREATE TRIGGER audit_record_no_truncate BEFORE TRUNCATE ON audit_record
                FOR EACH STATEMENT EXECUTE FUNCTION medic_audit_append_only()
                """,
                """
                CREATE TABLE run (
                    id text COLLATE "C" PRIMARY KEY,
                    runbook text NOT NULL,
                    started_at text COLLATE "C" NOT NULL,
                    finished_at text COLLATE "C",
                    duration_ms bigint,
                    outcome text,
                    initiator text,
                    alertname text,
                    fingerprint text,
                    owner_host text,
                    owner_pid bigint,
                    owner_start text,
                    verification text,
                    resolve_ms bigint
                )
                """,
                "CREATE INDEX run_by_start ON run (started_at)",
                "CREATE INDEX run_unfinished ON run (finished_at) WHERE finished_at IS NULL",
                "CREATE INDEX run_by_runbook ON run (runbook, started_at)",
                "CREATE INDEX run_by_outcome ON run (outcome, runbook, duration_ms)",
                "CREATE INDEX run_by_verification ON run (verification, runbook)",
                // Replicas and their leases: a replica renews `lease_until` by heartbeat; `token` grows each time
                // a replica registers (a restarted one, or another process taking its id, fences the old one).
                """
                CREATE TABLE replica (
                    id text PRIMARY KEY,
                    token bigint NOT NULL,
                    host text NOT NULL,
                    pid bigint NOT NULL,
                    lease_until timestamptz NOT NULL,
                    registered_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                "CREATE SEQUENCE replica_token",
                "ALTER TABLE run ADD COLUMN owner_replica text",
                "ALTER TABLE run ADD COLUMN owner_token bigint",
                // A replica's runs decided and not yet started (no row in `run`), for the sweep.
                """
                CREATE TABLE decided_run (
                    id text COLLATE "C" PRIMARY KEY,
                    runbook text NOT NULL,
                    owner_replica text NOT NULL,
                    owner_token bigint NOT NULL
                )
                """,
                // Singletons (sweeping dead replicas' runs): one short-lived row per job, taken when free or
                // expired, never "run exactly one and watch it".
                """
                CREATE TABLE leader (
                    name text PRIMARY KEY,
                    holder text NOT NULL,
                    until timestamptz NOT NULL
                )
                """,
            ]
        )
    ]

    static func migrate(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger)
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS medic_schema_version (
                    version integer PRIMARY KEY,
                    description text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """, logger: logger)
            var current = 0
            for try await version in try await connection.query(
                "SELECT COALESCE(MAX(version), 0)::integer FROM medic_schema_version", logger: logger
            ).decode(Int32.self) {
                current = Int(version)
            }
            if current > migrations.count {
                throw PostgresStoreError(
                    "the database's Medic schema is version \(current), newer than this Medic knows (\(migrations.count)): upgrade Medic, or point it at another database"
                )
            }
            for (index, migration) in migrations.enumerated().dropFirst(current) {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO medic_schema_version (version, description) VALUES (\(Int32(index + 1)), \(migration.description))",
                    logger: logger)
            }
        }
    }
}
