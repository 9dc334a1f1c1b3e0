import HTTPTypes
import Hummingbird

/// Names the membership epoch the node routes by in every answer (`Flashsale-Epoch`), so that a
/// client computing owners from a ring it read earlier learns from any answer that the ring has
/// changed, without polling `GET /v1/cluster`.
struct MembershipEpochMiddleware<Context: RequestContext>: RouterMiddleware {
    static var header: HTTPField.Name { HTTPField.Name("Flashsale-Epoch")! }

    let epoch: @Sendable () -> Int64?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        if let epoch = self.epoch() { response.headers[Self.header] = String(epoch) }
        return response
    }
}
