import Logging
import MedicPostgres
import ServiceLifecycle

/// A replica's lease on the shared PostgreSQL store: renewed every third of `lease`; and, when this replica
/// leads the sweep (a short-lived leader row), the runs of replicas whose lease ran out are closed
/// `interrupted` and escalated (`replica_lost`), never run again.
struct ReplicaLeaseService: Service {
    let store: PostgresAuditLog
    let lease: Duration
    let logger: Logger

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            var lastRenewed = ContinuousClock.now
            while !Task.isCancelled {
                try await Task.sleep(for: lease / 3)
                do {
                    if try await store.renew(lease: lease) {
                        lastRenewed = .now
                    } else {
                        logger.critical(
                            "replica \(store.location) lost its lease: another process registered under its id or it ran out; its writes are refused from now on"
                        )
                    }
                } catch {
                    logger.error(
                        "renewing the replica lease failed (\(ContinuousClock.now - lastRenewed) since the last renewal): \(error)")
                }
                do {
                    for closed in try await store.closeRunsOfLostReplicas(lease: lease) {
                        logger.warning(
                            "closed a run of lost replica \(closed.replica) as interrupted and escalated it",
                            metadata: ["run.id": "\(closed.runID)", "runbook": "\(closed.runbook)"])
                    }
                } catch {
                    logger.error("sweeping lost replicas' runs failed: \(error)")
                }
            }
        }
    }
}
