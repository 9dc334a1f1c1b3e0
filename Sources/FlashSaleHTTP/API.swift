public import FlashSaleCore
import Foundation
public import Hummingbird
import Metrics

/// What the HTTP API needs from the node that serves it.
public struct APIDependencies: Sendable {
    public var operations: any SaleOperations
    public var adminToken: String
    public var clusterStatus: @Sendable () async throws -> ClusterStatus
    /// The membership epoch this node routes by (nil before it has one), named in every answer's
    /// `Flashsale-Epoch` so that a client routing by a ring of its own notices a newer one.
    public var membershipEpoch: @Sendable () -> Int64?
    /// True when this node can answer sale requests now (its Redis answers and has the scripts).
    public var isReady: @Sendable () async -> Bool
    /// Prometheus text exposition of every metric in the process.
    public var metricsText: @Sendable () -> String
    /// `POST /v1/cluster/nodes` and `DELETE /v1/cluster/nodes/{id}`; they throw `ClusterChangeError`.
    public var addNode: @Sendable (NodeRegistration) async throws -> Void
    public var removeNode: @Sendable (String) async throws -> Void
    public var limits: ClientLimits
    /// Bounds the sale calls worked on at once; nil: none. Admin calls and probes never pass it.
    public var admission: AdmissionGate?
    /// All-or-nothing carts; nil on a node without PostgreSQL (their calls answer 503).
    public var carts: (any CartService)?

    public init(
        operations: any SaleOperations,
        adminToken: String,
        clusterStatus: @escaping @Sendable () async throws -> ClusterStatus,
        membershipEpoch: @escaping @Sendable () -> Int64? = { nil },
        isReady: @escaping @Sendable () async -> Bool,
        metricsText: @escaping @Sendable () -> String,
        addNode: @escaping @Sendable (NodeRegistration) async throws -> Void,
        removeNode: @escaping @Sendable (String) async throws -> Void,
        limits: ClientLimits = .init(),
        admission: AdmissionGate? = nil,
        carts: (any CartService)? = nil
    ) {
        self.operations = operations
        self.adminToken = adminToken
        self.clusterStatus = clusterStatus
        self.membershipEpoch = membershipEpoch
        self.isReady = isReady
        self.metricsText = metricsText
        self.addNode = addNode
        self.removeNode = removeNode
        self.limits = limits
        self.admission = admission
        self.carts = carts
    }
}

/// How fast one client may call the sale API of one node; nil turns a limit off. Over it, 429
/// `rate_limited` with Retry-After. A user is limited on reservations (the body names them); an
/// address on every `/v1/` call. Health, readiness and metrics are never limited.
public struct ClientLimits: Sendable {
    public var perUser: RateLimiter.Rule?
    public var perAddress: RateLimiter.Rule?

    public init(perUser: RateLimiter.Rule? = nil, perAddress: RateLimiter.Rule? = nil) {
        self.perUser = perUser
        self.perAddress = perAddress
    }
}

/// The HTTP API v1 of shared/DESIGN.md section 3.
public func makeAPIRouter(_ dependencies: APIDependencies) -> Router<APIRequestContext> {
    let router = Router(context: APIRequestContext.self)
    let stats = NodeStats()
    router.add(middleware: RequestMetricsMiddleware(stats: stats))
    // Outside the error translation, so that refusals name the epoch too.
    router.add(middleware: MembershipEpochMiddleware(epoch: dependencies.membershipEpoch))
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: ErrorMiddleware())
    if let rule = dependencies.limits.perAddress {
        router.add(middleware: AddressRateLimitMiddleware(limiter: SharedRateLimiter(RateLimiter(rule: rule))))
    }
    let api = API(
        dependencies: dependencies,
        userLimiter: dependencies.limits.perUser.map { SharedRateLimiter(RateLimiter(rule: $0)) },
        stats: stats
    )

    router.put("/v1/skus/:sku") { request, context in try await api.defineSKU(request, context) }
    router.get("/v1/skus/:sku") { _, context in try await api.skuState(context) }
    router.post("/v1/skus/:sku/close") { request, context in try await api.closeSKU(request, context) }
    router.post("/v1/skus/:sku/reservations") { request, context in try await api.reserve(request, context) }
    router.get("/v1/skus/:sku/reservations/:id") { _, context in
        try await api.resolve(context, SaleOperation.reservation)
    }
    router.post("/v1/skus/:sku/reservations/:id/commit") { _, context in
        try await api.resolve(context, SaleOperation.commit)
    }
    router.post("/v1/skus/:sku/reservations/:id/release") { _, context in
        try await api.resolve(context, SaleOperation.release)
    }
    router.post("/v1/carts") { request, _ in try await api.createCart(request) }
    router.get("/v1/carts/:id") { _, context in try await api.cart(context) { carts, id throws(CartError) in try await carts.cart(id: id) } }
    router.post("/v1/carts/:id/commit") { _, context in
        try await api.cart(context) { carts, id throws(CartError) in try await carts.commit(id: id) }
    }
    router.post("/v1/carts/:id/release") { _, context in
        try await api.cart(context) { carts, id throws(CartError) in try await carts.release(id: id) }
    }
    router.get("/v1/cluster") { _, _ in try await api.cluster() }
    router.post("/v1/cluster/nodes") { request, _ in try await api.addNode(request) }
    router.delete("/v1/cluster/nodes/:id") { request, context in try await api.removeNode(request, context) }
    router.get("/v1/node/stats") { _, _ in await api.nodeStats() }
    router.get("/") { _, _ in try StatusPage.response(for: "index.html") }
    router.get("/status/:file") { _, context in try StatusPage.response(for: context.parameters.get("file") ?? "") }
    router.get("/openapi.yaml") { _, _ in try StatusPage.response(for: "openapi.yaml") }
    router.get("/healthz") { _, _ in json(.ok, JSONWriter.object { $0.field("status", "ok") }) }
    router.get("/readyz") { _, _ in await api.readiness() }
    router.get("/metrics") { _, _ in
        Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: dependencies.metricsText()))
        )
    }
    return router
}

struct API: Sendable {
    let dependencies: APIDependencies
    let userLimiter: SharedRateLimiter?
    let stats: NodeStats
    private var operations: any SaleOperations { self.dependencies.operations }

    func defineSKU(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        try self.requireAdmin(request)
        let sku = try pathIdentifier("sku", context)
        let settings = try await request.decodeJSON(DefineSKUBody.self).settings()
        let definition = try await self.operations.run(.defineSKU(sku: sku, settings: settings)).skuDefinition()
        return json(definition.isNew ? .created : .ok, Self.render(definition.state))
    }

    /// Ends the sale now on the owner shard's clock: new reservations get `sale_ended`; those made
    /// before can still be committed or released, or expire.
    func closeSKU(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        try self.requireAdmin(request)
        let sku = try pathIdentifier("sku", context)
        return json(.ok, Self.render(try await self.operations.run(.closeSKU(sku: sku)).skuState()))
    }

    /// Runs a sale call once the admission gate lets it start (503 at once when it sheds it).
    private func admitted(_ operation: SaleOperation) async throws -> SaleOutcome {
        try await self.admitted { await self.operations.run(operation) }
    }

    private func admitted<Value: Sendable>(_ body: () async throws -> Value) async throws -> Value {
        guard let admission = self.dependencies.admission else { return try await body() }
        return try await admission.withAdmission(body)
    }

    /// 429 when `user` is making reservations (or carts) faster than the per-user limit.
    private func limit(user: String) throws(APIError) {
        if let userLimiter, case .limited(let retryAfterSeconds) = userLimiter.decide(user) {
            throw APIError.rateLimited("this user is making reservations too fast", retryAfterSeconds: retryAfterSeconds)
        }
    }

    func skuState(_ context: APIRequestContext) async throws -> Response {
        let state = try await self.admitted(.skuState(sku: try pathIdentifier("sku", context))).skuState()
        return json(.ok, Self.render(state))
    }

    func reserve(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let sku = try pathIdentifier("sku", context)
        let body = try await request.decodeReserveBody()
        try body.validate()
        try self.limit(user: body.user)
        self.stats.reserving(sku)
        let operation = SaleOperation.reserve(sku: sku, user: body.user, quantity: body.quantity, requestId: body.requestId)
        let receipt = try await self.admitted(operation).receipt()
        return json(receipt.isNew ? .created : .ok, Self.render(receipt.reservation))
    }

    func resolve(
        _ context: APIRequestContext,
        _ operation: (_ sku: String, _ id: String) -> SaleOperation
    ) async throws -> Response {
        let sku = try pathIdentifier("sku", context)
        let id = try pathIdentifier("id", context)
        return json(.ok, Self.render(try await self.admitted(operation(sku, id)).reservation()))
    }

    private func cartService() throws(APIError) -> any CartService {
        guard let carts = self.dependencies.carts else {
            throw APIError(.serviceUnavailable, "unavailable", "carts need the cluster's PostgreSQL, which this node has not", retryAfterSeconds: 1)
        }
        return carts
    }

    /// 201 with the cart when every item is held; 200 for a repeated requestId; 409 with the first
    /// refusal and its SKU when an item is refused (and nothing of the cart stays held).
    func createCart(_ request: Request) async throws -> Response {
        let body = try await request.decodeJSON(CartBody.self)
        let items = try body.validate()
        try self.limit(user: body.user)
        let carts = try self.cartService()
        let view = try await self.admitted { try await carts.create(user: body.user, requestId: body.requestId, items: items) }
        return json(view.isNew ? .created : .ok, Self.render(view))
    }

    func cart(
        _ context: APIRequestContext,
        _ call: (any CartService, String) async throws(CartError) -> CartView
    ) async throws -> Response {
        let id = try pathIdentifier("id", context)
        let carts = try self.cartService()
        return json(.ok, Self.render(try await self.admitted { try await call(carts, id) }))
    }

    static func render(_ cart: CartView) -> String {
        JSONWriter.object {
            $0.field("id", cart.id)
            $0.field("user", cart.user)
            $0.field("requestId", cart.requestId)
            $0.field("status", cart.phase.rawValue)
            if let expiresAt = cart.expiresAtMilliseconds { $0.field("expiresAt", RFC3339.format(milliseconds: expiresAt)) }
            $0.raw(
                "items",
                JSONWriter.array(cart.items.map { item in
                    JSONWriter.object {
                        if let id = item.reservationId { $0.field("id", id) }
                        $0.field("sku", item.sku)
                        $0.field("user", cart.user)
                        $0.field("quantity", item.quantity)
                        if let status = item.status { $0.field("status", status.rawValue) }
                        if let expiresAt = item.expiresAtMilliseconds { $0.field("expiresAt", RFC3339.format(milliseconds: expiresAt)) }
                        $0.field("requestId", item.requestId)
                    }
                })
            )
        }
    }

    func cluster() async throws -> Response {
        let status = try await self.dependencies.clusterStatus()
        let nodes = status.nodes.map { node in
            JSONWriter.object {
                $0.field("id", node.id)
                $0.field("clientUrl", node.clientUrl)
                $0.field("peerAddress", node.peerAddress)
                $0.field("state", node.state)
                $0.field("skuCount", node.skuCount)
                $0.field("slots", node.slots)
                if let adopter = node.adoptedBy { $0.field("adoptedBy", adopter) }
                if let handoff = node.handoff {
                    $0.raw(
                        "handoff",
                        JSONWriter.object {
                            $0.field("toMove", handoff.toMove)
                            $0.field("moved", handoff.moved)
                            $0.field("failedAttempts", handoff.failedAttempts)
                            $0.field("finished", handoff.finished)
                        }
                    )
                }
            }
        }
        let syncer = JSONWriter.object {
            if let leader = status.syncer.leader { $0.field("leader", leader) } else { $0.nullField("leader") }
            $0.field("fencingEpoch", status.syncer.fencingEpoch)
            if let lag = status.syncer.lagSeconds { $0.field("lagSeconds", lag) } else { $0.nullField("lagSeconds") }
        }
        return json(
            .ok,
            JSONWriter.object {
                $0.field("epoch", status.epoch)
                $0.field("rebalancing", status.rebalancing)
                $0.raw("nodes", JSONWriter.array(nodes))
                $0.raw(
                    "placement",
                    JSONWriter.array(status.placement.map { member in
                        JSONWriter.object {
                            $0.field("id", member.id)
                            $0.field("weight", member.weight)
                        }
                    })
                )
                $0.raw("syncer", syncer)
            }
        )
    }

    /// 202: the node is a member (joining, or already there); its SKUs move to it in the background.
    func addNode(_ request: Request) async throws -> Response {
        try self.requireAdmin(request)
        let registration = try await request.decodeJSON(NodeRegistrationBody.self).registration()
        try await Self.change { try await self.dependencies.addNode(registration) }
        return json(.accepted, JSONWriter.object { $0.field("id", registration.id) })
    }

    /// 202: the node is leaving (or already left); its SKUs move to the others in the background.
    func removeNode(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        try self.requireAdmin(request)
        let id = try pathIdentifier("id", context)
        try await Self.change { try await self.dependencies.removeNode(id) }
        return json(.accepted, JSONWriter.object { $0.field("id", id) })
    }

    private static func change(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as ClusterChangeError {
            switch error {
            case .inProgress(let why): throw APIError(.conflict, "change_in_progress", why, retryAfterSeconds: 1)
            case .refused(let why): throw APIError(.conflict, "refused", why)
            case .unknownNode(let why): throw APIError(.notFound, "unknown_node", why)
            case .unavailable(let why): throw APIError(.serviceUnavailable, "unavailable", why, retryAfterSeconds: 1)
            }
        }
    }

    /// This node's answers per second and its hottest SKUs with their stock left and the phase of
    /// their sale, for the status page (which reads every node's, so any origin may read it: it
    /// holds nothing secret). The phase is as this node's clock sees it, for people to read: the
    /// owner shard's clock alone decides what a reservation gets.
    func nodeStats() async -> Response {
        let read = self.stats.read(hotCount: 5)
        let nowMilliseconds = Int64(Date().timeIntervalSince1970 * 1000)
        var hot: [String] = []
        for (sku, score) in read.hot {
            guard let state = try? await self.operations.run(.skuState(sku: sku)).skuState() else { continue }
            hot.append(JSONWriter.object {
                $0.field("sku", sku)
                $0.field("reservationsPerHalfMinute", Int64(score.rounded()))
                $0.field("stock", state.settings.stock)
                $0.field("available", state.available)
                $0.field("phase", state.phase(atMilliseconds: nowMilliseconds).rawValue)
            })
        }
        var response = json(
            .ok,
            JSONWriter.object {
                $0.field("requestsPerSecond", read.rates.requests)
                $0.field("serverErrorsPerSecond", read.rates.serverErrors)
                $0.field("rateLimitedPerSecond", read.rates.rateLimited)
                $0.raw("hotSkus", JSONWriter.array(hot))
            }
        )
        response.headers[.accessControlAllowOrigin] = "*"
        return response
    }

    func readiness() async -> Response {
        if await self.dependencies.isReady() {
            return json(.ok, JSONWriter.object { $0.field("status", "ready") })
        }
        return APIError(.serviceUnavailable, "unavailable", "this node's Redis shard is not reachable", retryAfterSeconds: 1)
            .response()
    }

    func requireAdmin(_ request: Request) throws(APIError) {
        let presented = request.headers[.authorization] ?? ""
        let expected = "Bearer " + self.dependencies.adminToken
        guard constantTimeEquals(Array(presented.utf8), Array(expected.utf8)) else {
            throw APIError(.unauthorized, "unauthorized", "admin calls need Authorization: Bearer <admin token>")
        }
    }

    static func render(_ state: SKUState) -> String {
        JSONWriter.object {
            $0.field("sku", state.sku)
            $0.field("stock", state.settings.stock)
            $0.field("available", state.available)
            $0.field("reserved", state.reserved)
            $0.field("committed", state.committed)
            $0.field("perUserLimit", state.settings.perUserLimit)
            $0.field("reservationTtlSeconds", state.settings.reservationTtlSeconds)
            $0.field("buckets", state.settings.buckets)
            if let startsAt = state.settings.startsAtMilliseconds { $0.field("startsAt", RFC3339.format(milliseconds: startsAt)) }
            if let endsAt = state.settings.endsAtMilliseconds { $0.field("endsAt", RFC3339.format(milliseconds: endsAt)) }
        }
    }

    static func render(_ reservation: Reservation) -> String {
        JSONWriter.object {
            $0.field("id", reservation.id)
            $0.field("sku", reservation.sku)
            $0.field("user", reservation.user)
            $0.field("quantity", reservation.quantity)
            $0.field("status", reservation.status.rawValue)
            $0.field("expiresAt", RFC3339.format(milliseconds: reservation.expiresAtMilliseconds))
            $0.field("requestId", reservation.requestId)
        }
    }
}

func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
    Response(
        status: status,
        headers: [.contentType: "application/json"],
        body: .init(byteBuffer: ByteBuffer(string: body))
    )
}

/// Path segments arrive percent-encoded; the API's identifiers are the decoded text.
func pathIdentifier(_ name: String, _ context: APIRequestContext) throws(APIError) -> String {
    guard let raw = context.parameters.get(name) else { throw .invalid("\(name) is missing from the path") }
    // Most paths have nothing to decode; Foundation's decoding showed in the hot path's profile.
    guard let value = raw.utf8.contains(UInt8(ascii: "%")) ? raw.removingPercentEncoding : raw else {
        throw .invalid("\(name) is not valid percent-encoding")
    }
    try checkIdentifier(value, name)
    return value
}

/// Compares without an early exit, so the time taken does not reveal how much of a token matched.
func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
    var difference = UInt8(lhs.count == rhs.count ? 0 : 1)
    for index in 0..<max(lhs.count, rhs.count) {
        let left = index < lhs.count ? lhs[index] : 0
        let right = index < rhs.count ? rhs[index] : 0
        difference |= left ^ right
    }
    return difference == 0
}
