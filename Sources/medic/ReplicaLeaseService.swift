import Foundation
import Logging
import MedicCore
import MedicExecution
import MedicPostgres
import MedicServer
import ServiceLifecycle
import Synchronization

/// A replica's lease on the shared PostgreSQL store: renewed every third of `lease`; and, when this replica
/// leads the sweep (a short-lived leader row), the runs of replicas whose lease ran out are closed
/// `interrupted` and escalated (`replica_lost`), never run again.
///
/// A watchdog, apart from the renewals, fences the replica once two thirds of the lease have passed since the
/// last renewal that succeeded was sent (a renewal that hangs cannot delay it), or at once when the store says
/// the lease is gone: its running steps (local and remote) are stopped without rollback, its waiting runs are
/// dropped, and nothing starts. Once those runs have ended and the store answers, it registers anew (a new
/// fencing token), records `replica.fenced` naming the runs, escalates each once, and goes on.
struct ReplicaLeaseService: Service {
    let store: PostgresAuditLog
    let lease: Duration
    let logger: Logger
    let dispatcher: Dispatcher
    let metrics: ServerMetrics

    /// What the renewals and the watchdog share.
    final class LeaseState: Sendable {
        struct Fence {
            var at: Date
            var runs: [String]
            var reason: String
        }

        struct Values {
            /// When the last renewal that succeeded was sent.
            var renewedAt = ContinuousClock.now
            var fence: Fence?
            var fencing = false
        }

        let values = Mutex(Values())
    }

    func run() async throws {
        let state = LeaseState()
        try await cancelWhenGracefulShutdown {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await watch(state) }
                group.addTask { try await sweeps() }
                try await renewals(state)
            }
        }
    }

    /// Fences once two thirds of the lease have passed since the last successful renewal was sent.
    private func watch(_ state: LeaseState) async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: lease / 10)
            let since = ContinuousClock.now - state.values.withLock { $0.renewedAt }
            metrics.replica(
                store.writer, leaseRemaining: max(.zero, lease - since),
                fenced: state.values.withLock { $0.fence != nil || $0.fencing })
            if since >= lease * 2 / 3 {
                await fence(state, reason: "no renewal of the lease succeeded for \(since)")
            }
        }
    }

    private func fence(_ state: LeaseState, reason: String) async {
        let first = state.values.withLock { values -> Bool in
            guard values.fence == nil, !values.fencing else { return false }
            values.fencing = true
            return true
        }
        guard first else { return }
        let stopped = await dispatcher.fence()
        state.values.withLock {
            $0.fence = LeaseState.Fence(at: Date(), runs: stopped, reason: reason)
            $0.fencing = false
        }
        logger.critical(
            "replica fenced: \(reason); stopped or dropped \(stopped.count) run(s), without rollback",
            metadata: ["runs": "\(stopped.joined(separator: ","))"])
    }

    /// Every third of the lease, on its own: a slow sweep (waiting for the leader row or the head) must not
    /// delay a renewal.
    private func sweeps() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: lease / 3)
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

    private func renewals(_ state: LeaseState) async throws {
        var next = ContinuousClock.now
        while !Task.isCancelled {
            // Every third of the lease from the last one sent, however long it took.
            next = max(next + lease / 3, ContinuousClock.now)
            try await Task.sleep(until: next)
            let sent = ContinuousClock.now
            let fenced = state.values.withLock { $0.fence }
            if let fenced {
                try await recover(from: fenced, state)
                continue
            }
            do {
                if try await store.renew(lease: lease) {
                    state.values.withLock { $0.renewedAt = max($0.renewedAt, sent) }
                } else {
                    await fence(state, reason: "the lease ran out or another process registered under this replica's id")
                }
            } catch {
                logger.error("renewing the replica lease failed: \(error)")
            }
        }
    }

    /// Back as soon as the fenced runs have ended and the store answers: a new token, the record, the
    /// escalations, then runs may start again.
    private func recover(from fenced: LeaseState.Fence, _ state: LeaseState) async throws {
        guard !(await dispatcher.isExecuting(any: fenced.runs)) else { return }
        let sent = ContinuousClock.now
        guard (try? await store.register(lease: lease)) != nil else { return }
        // Held again from here: what follows (the record, the escalations) may take a while.
        state.values.withLock { $0.renewedAt = sent }
        do {
            try await store.append(
                AuditEvent(
                    time: Date(), kind: .replicaFenced, runID: "",
                    body: [
                        "replica": .string(store.writer), "reason": .string(fenced.reason),
                        "fenced_at": .string(RFC3339.format(fenced.at)),
                        "runs": .array(fenced.runs.map(JSONValue.string)),
                        "lease_ms": JSONValue(Int(lease.components.seconds * 1000)),
                    ]))
        } catch {
            logger.error("recording replica.fenced failed: \(error)")
            return
        }
        do {
            _ = try await store.escalateStoppedRuns(fenced.runs, reason: fenced.reason)
        } catch {
            logger.error("escalating the runs stopped by the fence failed: \(error)")
        }
        state.values.withLock {
            $0.fence = nil
            $0.renewedAt = sent
        }
        await dispatcher.unfence()
        logger.warning("replica registered again after being fenced; runs may start again")
    }
}
