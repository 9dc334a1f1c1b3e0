import Hummingbird

/// Limits each client address on the sale API (`/v1/`); probes and metrics pass untouched, so a
/// busy load balancer's health checks and Prometheus are never refused.
struct AddressRateLimitMiddleware: RouterMiddleware {
    let limiter: SharedRateLimiter

    func handle(
        _ request: Request,
        context: APIRequestContext,
        next: (Request, APIRequestContext) async throws -> Response
    ) async throws -> Response {
        if request.uri.path.hasPrefix("/v1/"), let address = context.remoteAddress?.ipAddress,
            case .limited(let retryAfterSeconds) = self.limiter.decide(address)
        {
            throw APIError.rateLimited("this address is calling too fast", retryAfterSeconds: retryAfterSeconds)
        }
        return try await next(request, context)
    }
}
