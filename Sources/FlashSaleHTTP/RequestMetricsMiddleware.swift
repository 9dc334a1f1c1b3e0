import Hummingbird
import Metrics
import Synchronization

/// Counts requests and times them by route pattern, method and status. Labels never carry a SKU,
/// a user or an id: the route is the pattern (`/v1/skus/{sku}`), so the label set stays small.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    private let cache = MetricsCache()
    let stats: NodeStats

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            self.record(request, context, status: response.status.code, since: start)
            return response
        } catch let error as any HTTPResponseError {
            self.record(request, context, status: error.status.code, since: start)
            throw error
        } catch {
            self.record(request, context, status: 500, since: start)
            throw error
        }
    }

    private func record(_ request: Request, _ context: Context, status: Int, since start: ContinuousClock.Instant) {
        let key = MetricsCache.Key(route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: status)
        let metrics = self.cache.metrics(for: key)
        metrics.requests.increment()
        metrics.duration.recordNanoseconds(Int64((ContinuousClock.now - start) / .nanoseconds(1)))
        self.stats.answered(status: status)
    }
}

/// Metric objects are looked up once per label set, not created per request.
private final class MetricsCache: Sendable {
    struct Key: Hashable, Sendable {
        var route: String
        var method: String
        var status: Int
    }

    struct Entry: Sendable {
        var requests: Counter
        var duration: Timer
    }

    private let entries = Mutex<[Key: Entry]>([:])

    func metrics(for key: Key) -> Entry {
        self.entries.withLock { entries in
            if let entry = entries[key] { return entry }
            let dimensions = [("route", key.route), ("method", key.method), ("status", String(key.status))]
            let entry = Entry(
                requests: Counter(label: "flashsale_http_requests_total", dimensions: dimensions),
                duration: Timer(label: "flashsale_http_request_duration_seconds", dimensions: dimensions)
            )
            entries[key] = entry
            return entry
        }
    }
}
