import Foundation
import Hummingbird
import Logging

/// Lets a request through only with the expected bearer token or, where a signature check is set (alert
/// intake), with a valid `X-Medic-Signature: sha256=<hex>` HMAC of its body; `401` otherwise. With neither a
/// token nor a signature check everything passes (loopback only: `ServeSettings` refuses anything else).
public struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The HMAC alternative: how to verify a body against the header, and how much body to read for it.
    public struct SignatureCheck: Sendable {
        public var maxBodyBytes: Int
        public var verify: @Sendable (Data, String) -> Bool

        public init(maxBodyBytes: Int, verify: @escaping @Sendable (Data, String) -> Bool) {
            self.maxBodyBytes = maxBodyBytes
            self.verify = verify
        }
    }

    public let token: String?
    public let signature: SignatureCheck?
    /// Where refusals are logged (`intake request refused`); nil: not logged.
    public let logger: Logger?

    public init(token: String?, signature: SignatureCheck? = nil, logger: Logger? = nil) {
        self.token = token
        self.signature = signature
        self.logger = logger
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if token == nil && signature == nil { return try await next(request, context) }
        if let token, BearerToken.matches(request.headers[.authorization], token: token) {
            return try await next(request, context)
        }
        guard let signature, let header = request.headers.first(where: { $0.name.canonicalName == "x-medic-signature" })
        else { return refuse(request) }
        // The body is read once here (bounded, 413 beyond) and stays in the request for the handler.
        var signed = request
        let body = try await signed.collectBody(upTo: signature.maxBodyBytes)
        guard signature.verify(Data(buffer: body), header.value) else { return refuse(request) }
        return try await next(signed, context)
    }

    func refuse(_ request: Request) -> Response {
        logger?.warning(
            "intake request refused",
            metadata: ["path": .string(request.uri.path), "code": .stringConvertible(401), "reason": "unauthorized"])
        return IntakeServer.error(.unauthorized, "unauthorized")
    }
}
