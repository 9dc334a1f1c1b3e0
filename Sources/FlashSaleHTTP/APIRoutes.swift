public import HTTPTypes

/// The API's paths and the methods each takes, so that a known path asked with another method is
/// answered 405 with `Allow` (as HTTP says) rather than the router's 404. `APITests` checks that
/// every pair here is routed.
enum APIRoutes {
    /// Path templates, a `*` standing for one segment (an identifier).
    static let table: [(template: String, methods: [HTTPRequest.Method])] = [
        ("/v1/skus/*", [.get, .put]),
        ("/v1/skus/*/close", [.post]),
        ("/v1/skus/*/reservations", [.post]),
        ("/v1/skus/*/reservations/*", [.get]),
        ("/v1/skus/*/reservations/*/commit", [.post]),
        ("/v1/skus/*/reservations/*/release", [.post]),
        ("/v1/carts", [.post]),
        ("/v1/carts/*", [.get]),
        ("/v1/carts/*/commit", [.post]),
        ("/v1/carts/*/release", [.post]),
        ("/v1/cluster", [.get]),
        ("/v1/cluster/nodes", [.post]),
        ("/v1/cluster/nodes/*", [.delete]),
        ("/v1/node/stats", [.get]),
        ("/", [.get]),
        ("/status/*", [.get]),
        ("/healthz", [.get]),
        ("/readyz", [.get]),
        ("/metrics", [.get]),
        ("/openapi.yaml", [.get]),
    ]

    /// The methods `path` takes, or nil when no route has that path.
    static func methods(forPath path: String) -> [HTTPRequest.Method]? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        for (template, methods) in Self.table {
            let parts = template.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
            guard parts.count == segments.count else { continue }
            if zip(parts, segments).allSatisfy({ part, segment in part == "*" ? !segment.isEmpty : part == segment }) {
                return methods
            }
        }
        return nil
    }
}
