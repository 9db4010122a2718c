import Hummingbird
import Logging

/// Counts every answer to an intake route by source and code, the refusals of the middleware after it included;
/// an error thrown as a status (413 for a body over the limit) is counted and logged too.
struct IntakeAnswerMiddleware<Context: RequestContext>: RouterMiddleware {
    let source: String
    let metrics: ServerMetrics
    let logger: Logger

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            let response = try await next(request, context)
            metrics.intakeAnswered(source: source, code: response.status.code)
            return response
        } catch let error as any HTTPResponseError {
            metrics.intakeAnswered(source: source, code: error.status.code)
            logger.warning(
                "intake request refused",
                metadata: ["path": .string(request.uri.path), "code": "\(error.status.code)"])
            throw error
        }
    }
}
