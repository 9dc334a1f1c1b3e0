import FlashSaleCore
import Foundation
public import Hummingbird
import Logging

/// An error answer: `{"error": "<code>", "message": "<text>"}` with its status.
public struct APIError: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var retryAfterSeconds: Int?
    /// The methods a 405's path takes (its `Allow` header).
    public var allowedMethods: [HTTPRequest.Method]?
    /// The SKU a refused cart's refusal came from (its `sku` field).
    public var sku: String?

    public init(
        _ status: HTTPResponse.Status,
        _ code: String,
        _ message: String,
        retryAfterSeconds: Int? = nil,
        allowedMethods: [HTTPRequest.Method]? = nil
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
        self.allowedMethods = allowedMethods
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        self.response()
    }

    func response() -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        if let allowedMethods { headers[.allow] = allowedMethods.map(\.rawValue).joined(separator: ", ") }
        let body = JSONWriter.object { object in
            object.field("error", self.code)
            object.field("message", self.message)
            if let sku = self.sku { object.field("sku", sku) }
        }
        return Response(status: self.status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func invalid(_ message: String) -> APIError {
        APIError(.badRequest, "invalid_request", message)
    }

    static func rateLimited(_ message: String, retryAfterSeconds: Int) -> APIError {
        APIError(.tooManyRequests, "rate_limited", message, retryAfterSeconds: retryAfterSeconds)
    }

    /// How a cart call's refusal is answered.
    init(_ error: CartError) {
        switch error {
        case .refused(let sku, let refusal):
            self.init(refusal)
            self.sku = sku
        case .abandoned:
            self.init(.conflict, "abandoned", "an item's node did not answer and the cart was undone: nothing is held; a new requestId may try again")
        case .unknownCart:
            self.init(.notFound, "unknown_cart", "no such cart")
        case .conflict(let code, let message):
            self.init(.conflict, code, message)
        case .sale(let refusal):
            self.init(refusal)
        }
    }

    /// The one place where a sale refusal becomes an HTTP answer.
    init(_ error: SaleError) {
        switch error {
        case .invalidRequest(let message):
            self.init(.badRequest, "invalid_request", message)
        case .unknownSKU:
            self.init(.notFound, "unknown_sku", "no such SKU")
        case .unknownReservation:
            self.init(.notFound, "unknown_reservation", "no such reservation for this SKU")
        case .soldOut:
            self.init(.conflict, "sold_out", "not enough stock left for this quantity")
        case .limitExceeded:
            self.init(.conflict, "limit_exceeded", "this would exceed the SKU's per-user limit")
        case .notStarted(let opensIn):
            // Retry-After rounds up: a buyer who waits that long finds the sale open.
            let seconds = max(1, (opensIn + 999) / 1000)
            self.init(
                .conflict, "not_started", "the sale opens in \(seconds) s", retryAfterSeconds: Int(clamping: seconds)
            )
        case .saleEnded:
            self.init(.conflict, "sale_ended", "the sale has ended")
        case .archived:
            self.init(.conflict, "archived", "the sale of this SKU ended and is archived; it cannot sell again (define a new SKU)")
        case .stockBelowSold(let sold):
            self.init(.conflict, "stock_below_sold", "stock cannot be below reserved + committed (\(sold))")
        case .refused(.expired):
            self.init(.gone, "expired", "the reservation expired and its stock was returned")
        case .refused(.released):
            self.init(.conflict, "released", "the reservation was released")
        case .refused(.committed):
            self.init(.conflict, "committed", "the reservation is committed")
        case .unavailable(let message):
            self.init(.serviceUnavailable, "unavailable", message, retryAfterSeconds: 1)
        case .staleMembership(let epoch):
            self.init(.serviceUnavailable, "unavailable", "the cluster's membership changed (epoch \(epoch)); retry", retryAfterSeconds: 1)
        case .moved(let epoch):
            self.init(.serviceUnavailable, "unavailable", "the SKU is moving to its new owner (epoch \(epoch)); retry", retryAfterSeconds: 1)
        }
    }
}

/// Turns every error into the API's JSON error shape: a client never sees Hummingbird's plain text.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as SaleError {
            throw APIError(error)
        } catch let error as CartError {
            throw APIError(error)
        } catch let error as any HTTPResponseError {
            // The router found no route: a known path asked with a method it does not take is 405.
            if error.status == .notFound, let methods = APIRoutes.methods(forPath: request.uri.path) {
                throw APIError(
                    .methodNotAllowed, "method_not_allowed", "this route takes \(methods.map(\.rawValue).joined(separator: ", "))",
                    allowedMethods: methods
                )
            }
            throw Self.translate(error.status)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            throw APIError(.internalServerError, "internal", "the node failed to answer")
        }
    }

    static func translate(_ status: HTTPResponse.Status) -> APIError {
        switch status {
        case .notFound: APIError(.notFound, "not_found", "no such route")
        case .contentTooLarge: APIError(.contentTooLarge, "body_too_large", "bodies are limited to 64 KiB")
        case .methodNotAllowed: APIError(.methodNotAllowed, "method_not_allowed", "this route does not take that method")
        default: APIError(status, "invalid_request", status.reasonPhrase)
        }
    }
}
