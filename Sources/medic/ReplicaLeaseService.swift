import Foundation
import Logging
import MedicCore
import MedicExecution
import MedicPostgres
import MedicServer
import ServiceLifecycle

/// A replica's lease on the shared PostgreSQL store: renewed every third of `lease`; and, when this replica
/// leads the sweep (a short-lived leader row), the runs of replicas whose lease ran out are closed
/// `interrupted` and escalated (`replica_lost`), never run again.
///
/// A replica that cannot renew for two thirds of its lease fences itself before the lease can pass to another:
/// its running steps (local and remote) are stopped without rollback and nothing starts. Once the store answers
/// again it registers anew (a new fencing token), records `replica.fenced` naming the runs it stopped, and goes
/// on; those runs are closed `interrupted` and escalated by the sweep, as any lost replica's.
struct ReplicaLeaseService: Service {
    let store: PostgresAuditLog
    let lease: Duration
    let logger: Logger
    let dispatcher: Dispatcher
    let metrics: ServerMetrics

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            var lastRenewed = ContinuousClock.now
            var fenced: (at: Date, runs: [String], reason: String)?
            while !Task.isCancelled {
                try await Task.sleep(for: lease / 3)
                var held = false
                var reason = "the lease could not be renewed"
                do {
                    held = try await store.renew(lease: lease)
                    if !held { reason = "the lease ran out or another process registered under this replica's id" }
                } catch {
                    reason = "the lease could not be renewed: \(error)"
                    logger.error(
                        "renewing the replica lease failed (\(ContinuousClock.now - lastRenewed) since the last renewal): \(error)")
                }
                if held {
                    lastRenewed = .now
                } else if fenced == nil, !held, ContinuousClock.now - lastRenewed >= lease * 2 / 3 || reasonIsFinal(reason) {
                    let stopped = await dispatcher.fence()
                    fenced = (Date(), stopped, reason)
                    logger.critical(
                        "replica fenced: \(reason); stopped \(stopped.count) running run(s) without rollback",
                        metadata: ["runs": "\(stopped.joined(separator: ","))"])
                }
                metrics.replica(
                    store.writer, leaseRemaining: max(.zero, lease - (ContinuousClock.now - lastRenewed)),
                    fenced: fenced != nil)
                if let lost = fenced {
                    // Back as soon as the store answers: a new token, the record, then runs may start again.
                    guard (try? await store.register(lease: lease)) != nil else { continue }
                    do {
                        try await store.append(
                            AuditEvent(
                                time: Date(), kind: .replicaFenced, runID: "",
                                body: [
                                    "replica": .string(store.writer), "reason": .string(lost.reason),
                                    "fenced_at": .string(RFC3339.format(lost.at)),
                                    "runs": .array(lost.runs.map(JSONValue.string)),
                                    "lease_ms": JSONValue(Int(lease.components.seconds * 1000)),
                                ]))
                    } catch {
                        logger.error("recording replica.fenced failed: \(error)")
                        continue
                    }
                    do {
                        _ = try await store.escalateStoppedRuns(lost.runs, reason: lost.reason)
                    } catch {
                        logger.error("escalating the runs stopped by the fence failed: \(error)")
                    }
                    fenced = nil
                    lastRenewed = .now
                    await dispatcher.unfence()
                    logger.warning("replica registered again after being fenced; runs may start again")
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

/// A refusal (not a failure to reach the store): the lease is gone for sure, fence at once.
private func reasonIsFinal(_ reason: String) -> Bool {
    reason.hasPrefix("the lease ran out")
}
