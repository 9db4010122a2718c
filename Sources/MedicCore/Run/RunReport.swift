import Foundation

/// The story of one finished run, redacted, for `medic run` output and the audit log.
public struct RunReport: Sendable, Equatable {
    public struct Attempt: Sendable, Equatable {
        public var number: Int
        public var startedAt: Date
        public var result: AttemptResult

        public init(number: Int, startedAt: Date, result: AttemptResult) {
            self.number = number
            self.startedAt = startedAt
            self.result = result
        }
    }

    public struct StepEntry: Sendable, Equatable {
        public var id: String
        public var status: StepReportStatus
        public var skipReason: String?
        public var attempts: [Attempt]
        public var rollbackAttempts: [Attempt]
        public var hasRollback: Bool

        public init(
            id: String, status: StepReportStatus, skipReason: String?, attempts: [Attempt], rollbackAttempts: [Attempt],
            hasRollback: Bool
        ) {
            self.id = id
            self.status = status
            self.skipReason = skipReason
            self.attempts = attempts
            self.rollbackAttempts = rollbackAttempts
            self.hasRollback = hasRollback
        }
    }

    public var runID: String
    public var runbook: String
    public var outcome: RunOutcome
    public var startedAt: Date
    public var finishedAt: Date
    public var params: [String: String]
    public var steps: [StepEntry]

    public init(
        runID: String, runbook: String, outcome: RunOutcome, startedAt: Date, finishedAt: Date,
        params: [String: String],
        steps: [StepEntry]
    ) {
        self.runID = runID
        self.runbook = runbook
        self.outcome = outcome
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.params = params
        self.steps = steps
    }

    /// `{"run_id","runbook","outcome","started_at","finished_at","params","steps":[...]}`.
    public var json: JSONValue {
        func attempt(_ attempt: Attempt) -> JSONValue {
            var members = attempt.result.jsonFields
            members["number"] = JSONValue(attempt.number)
            members["started_at"] = .string(RFC3339.format(attempt.startedAt))
            return .object(members)
        }
        return [
            "run_id": .string(runID), "runbook": .string(runbook), "outcome": .string(outcome.rawValue),
            "started_at": .string(RFC3339.format(startedAt)), "finished_at": .string(RFC3339.format(finishedAt)),
            "params": .object(params.mapValues(JSONValue.string)),
            "steps": .array(
                steps.map { step in
                    var members: [String: JSONValue] = [
                        "id": .string(step.id), "status": .string(step.status.rawValue),
                        "attempts": .array(step.attempts.map(attempt)),
                        "rollback": step.hasRollback && !step.rollbackAttempts.isEmpty
                            ? [
                                "status": .string(step.status == .rollbackFailed ? "failed" : "succeeded"),
                                "attempts": .array(step.rollbackAttempts.map(attempt)),
                            ] : .null,
                    ]
                    if let reason = step.skipReason { members["skip_reason"] = .string(reason) }
                    return .object(members)
                }),
        ]
    }
}

extension RunReport {
    /// Remote kills that could not be confirmed, one line per attempt: the step, the attempt and what may
    /// still run where. Any of them makes the run escalate.
    public var killsUnconfirmed: [String] {
        steps.flatMap { step in
            func lines(_ attempts: [Attempt], _ phase: AttemptPhase) -> [String] {
                attempts.compactMap { attempt in
                    attempt.result.killUnconfirmed.map {
                        "step \(step.id)\(phase == .rollback ? " (rollback)" : "") attempt \(attempt.number): \($0)"
                    }
                }
            }
            return lines(step.attempts, .main) + lines(step.rollbackAttempts, .rollback)
        }
    }
}
