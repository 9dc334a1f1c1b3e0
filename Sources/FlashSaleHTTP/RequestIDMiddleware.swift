import FlashSaleCore
import HTTPTypes
import Hummingbird
import Logging

/// Gives each request an id, the client's `X-Request-Id` when it is a valid one, else a fresh
/// one: set as `RequestTrace.id` while the request is served (so every log line about it carries
/// it, here and on the owner it is forwarded to) and echoed in the answer's `X-Request-Id`.
/// Sits inside `ErrorMiddleware`'s translation of other errors, outside the API's own.
struct RequestIDMiddleware<Context: RequestContext>: RouterMiddleware {
    static var header: HTTPField.Name { HTTPField.Name("X-Request-Id")! }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let presented = request.headers[Self.header]
        let id = presented.flatMap { RequestTrace.isValid($0) ? $0 : nil } ?? RequestTrace.make()
        return try await RequestTrace.$id.withValue(id) {
            var response: Response
            do {
                response = try await next(request, context)
            } catch let error as APIError {
                response = error.response()
            }
            response.headers[Self.header] = id
            context.logger.debug("answered", metadata: ["method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(response.status.code)"])
            return response
        }
    }
}
