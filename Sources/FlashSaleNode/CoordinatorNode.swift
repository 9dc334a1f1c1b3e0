import FlashSaleCluster
import FlashSaleCore
import FlashSaleHTTP
import FlashSaleMembership
import FlashSalePeer
import FlashSaleRedis
import FlashSaleSync
import Hummingbird
import HummingbirdCore
public import Logging
import Prometheus
public import ServiceLifecycle
import Synchronization

/// One coordinator: its Redis shard's client, the expiry sweeper, the syncer, the membership, the
/// peer protocol and the HTTP API, as services in the order a ServiceGroup must start them (it
/// stops them in reverse: HTTP drains first).
public struct CoordinatorNode: Sendable {
    public let configuration: NodeConfiguration
    public let services: [any Service]

    public init(
        configuration: NodeConfiguration,
        metricsText: @escaping @Sendable () -> String,
        logger: Logger
    ) throws {
        self.configuration = configuration
        let redis = RedisClient(
            endpoint: try RedisEndpoint(url: configuration.redisURL),
            configuration: .init(connectionCount: configuration.redisConnections),
            logger: logger
        )
        let this = Membership.Node(
            id: configuration.nodeID,
            clientURL: configuration.clientURL,
            peerAddress: configuration.peerAddress,
            redisURL: configuration.redisURL,
            state: .active,
            weight: configuration.weight
        )
        // The store's calls carry the membership epoch, which exists only once the membership
        // service does, and that needs the store (for its SKU count): bound once both exist.
        let membershipSlot = LateBinding<MembershipService>()
        let standalone = Membership(epoch: 1, nodes: [this])
        let currentMembership: @Sendable () -> Membership? = {
            configuration.postgresURL == nil ? standalone : membershipSlot.value?.current
        }
        let store = SKUStore(
            scripts: ScriptRunner(client: redis),
            logger: logger,
            callerEpoch: { currentMembership()?.epoch ?? 0 }
        )
        let sweeper = ExpirySweeper(
            store: store,
            intervalMilliseconds: configuration.sweepIntervalMilliseconds,
            logger: logger
        )
        // Without PostgreSQL the node still sells; the record simply is not written.
        let syncer = configuration.postgresURL.map { url in
            Syncer(
                configuration: .init(
                    nodeID: configuration.nodeID,
                    redisURL: configuration.redisURL,
                    leaseTTL: .milliseconds(configuration.syncerLeaseTTLMilliseconds),
                    outboxLimit: configuration.outboxLimit
                ),
                postgresURL: url,
                localStore: store,
                logger: logger
            )
        }

        // The peer pool and the membership need each other (a join announces itself to the peers;
        // a peer's message tells the membership to read again), so the pool is set once both exist.
        let adopted = AdoptedShards(nodeID: this.id, local: store, callerEpoch: { currentMembership()?.epoch ?? 0 }, logger: logger)
        let peerPool = LateBinding<PeerPool>()
        // The rebalancer reports through the membership's heartbeat and the membership's reads tell it what to move.
        let rebalancerSlot = LateBinding<Rebalancer>()
        let membership = configuration.postgresURL.map { url in
            MembershipService(
                node: this,
                settings: .init(leaseMilliseconds: configuration.membershipLeaseMilliseconds),
                postgresURL: url,
                skuCount: { try? await store.skuCount() },
                handoffs: { rebalancerSlot.value?.reports ?? [:] },
                adopted: { membership in
                    do {
                        try await store.recordEpoch(membership.epoch)
                    } catch {
                        logger.warning("cannot record the membership epoch in the shard", metadata: ["error": "\(error)"])
                    }
                    await adopted.keepOnly(adoptedBy: this.id, in: membership)
                },
                announce: { membership in
                    // Every other shard learns the epoch before its node may still route by the old one;
                    // an unreachable shard's node learns it from its next heartbeat instead.
                    let others = membership.nodes.filter { $0.id != this.id }
                    await withTaskGroup(of: Void.self) { group in
                        for node in others {
                            group.addTask {
                                do {
                                    _ = try await ShardEpoch.record(membership.epoch, redisURL: node.redisURL)
                                } catch {
                                    logger.warning("cannot tell a shard of the new epoch", metadata: ["node": "\(node.id)", "error": "\(error)"])
                                }
                            }
                        }
                    }
                    let peers = others.compactMap { PeerEndpoint(nodeID: $0.id, address: $0.peerAddress) }
                    peerPool.value?.notify(.epochChanged(epoch: membership.epoch), peers: peers)
                },
                logger: logger
            )
        }
        membershipSlot.value = membership
        // This node's shard and those it has adopted: what the rebalancer moves SKUs from and the
        // transfer recovery scans.
        let servedShards: @Sendable () -> [(nodeID: String, store: SKUStore)] = {
            let adoptedNodes = currentMembership()?.nodes.filter { $0.adoptedBy == this.id } ?? []
            return [(this.id, store)] + adoptedNodes.compactMap { node in adopted.store(for: node).map { (node.id, $0) } }
        }
        let rebalancer = membership.map { membership in
            Rebalancer(
                shards: { servedShards().map { .init(nodeID: $0.nodeID, store: $0.store) } },
                membership: currentMembership,
                peers: { peerPool.value },
                concurrency: configuration.handoffConcurrency,
                done: { membership.reportHandoffSoon() },
                logger: logger
            )
        }
        rebalancerSlot.value = rebalancer
        let receiver = HandoffReceiver(nodeID: this.id, shards: adopted, membership: currentMembership)
        let forwarding = ForwardingOperations(
            nodeID: configuration.nodeID,
            local: store,
            adopted: adopted,
            membership: currentMembership,
            catchUp: { epoch in await membership?.catchUp(to: epoch) },
            peers: { peerPool.value }
        )
        let operations = SplitSKUOperations(routed: forwarding)
        var peerServer: PeerServer?
        if let directory = configuration.tlsDirectory, let address = PeerEndpoint(nodeID: this.id, address: this.peerAddress) {
            let tls = try PeerTLS(directory: directory, nodeID: configuration.nodeID)
            let hooks = PeerNodeHooks(
                currentEpoch: { currentMembership()?.epoch ?? 0 },
                serve: { request in
                    switch request {
                    case .forward(let forwarded):
                        return await RequestTrace.$id.withValue(forwarded.traceId.isEmpty ? nil : forwarded.traceId) {
                            logger.debug("serving a forwarded request", metadata: ["sku": "\(forwarded.operation.sku)"])
                            return .forward(await forwarding.serve(forwarded))
                        }
                    case .previousOwner(let asked):
                        return await RequestTrace.$id.withValue(asked.traceId.isEmpty ? nil : asked.traceId) {
                            logger.debug("serving as the previous owner", metadata: ["sku": "\(asked.operation.sku)"])
                            return .forward(await forwarding.serveAsPreviousOwner(asked))
                        }
                    case .handoff(let chunk):
                        await membership?.catchUp(to: chunk.senderEpoch)
                        let outcome = await receiver.receive(chunk)
                        return .handoff(.init(responderEpoch: currentMembership()?.epoch ?? 0, outcome: outcome))
                    }
                },
                observeEpoch: { membership?.observe(epoch: $0) }
            )
            peerPool.value = PeerPool(
                tls: tls,
                hooks: hooks,
                settings: .init(sourceHost: configuration.peerSourceHost),
                logger: logger
            )
            peerServer = PeerServer(host: address.host, port: address.port, tls: tls, hooks: hooks, logger: logger)
        }

        let router = makeAPIRouter(
            APIDependencies(
                operations: operations,
                adminToken: configuration.adminToken,
                clusterStatus: {
                    try await Self.clusterStatus(currentMembership(), store: store, nodeID: this.id, syncer: syncer?.clusterStatus)
                },
                isReady: {
                    // Ready when the shard has its scripts and this node is in the membership.
                    guard currentMembership()?.node(this.id) != nil else { return false }
                    return (try? await store.scripts.loadAll()) != nil
                },
                metricsText: metricsText,
                addNode: { registration in
                    let node = Membership.Node(
                        id: registration.id,
                        clientURL: registration.clientUrl,
                        peerAddress: registration.peerAddress,
                        redisURL: registration.redisUrl,
                        state: .joining,
                        weight: registration.weight,
                        isLive: false,
                        hasRun: false
                    )
                    try await Self.changeMembership(membership) { try await $0.add(node) }
                },
                removeNode: { id in try await Self.changeMembership(membership) { try await $0.remove(id) } },
                limits: ClientLimits(
                    perUser: Self.rateRule(configuration.userRequestsPerSecond, burst: configuration.userBurst),
                    perAddress: Self.rateRule(configuration.addressRequestsPerSecond, burst: configuration.addressBurst)
                )
            )
        )
        let http = Application(
            router: router,
            // An idle keep-alive connection holds one of the connection places: closed after a minute.
            server: .http1(configuration: .init(idleTimeout: .seconds(60))),
            configuration: .init(
                address: .hostname(configuration.httpHost, port: configuration.httpPort),
                serverName: "flashsale/\(configuration.nodeID)",
                availableConnectionsDelegate: MaximumAvailableConnections(configuration.httpConnectionsMax)
            ),
            logger: logger
        )
        var services: [any Service] = [redis, sweeper, NodeGauges(store: store, outboxLimit: configuration.outboxLimit, membership: currentMembership)]
        if let syncer { services.append(syncer) }
        if let membership { services.append(membership) }
        if let peerServer { services.append(peerServer) }
        if let rebalancer { services.append(rebalancer) }
        services.append(adopted)
        services.append(TransferRecovery(shards: { servedShards().map(\.store) }, operations: operations, logger: logger))
        services.append(http)
        self.services = services
    }

    /// A configured limit: a rate of 0 means none.
    private static func rateRule(_ ratePerSecond: Double, burst: Double?) -> RateLimiter.Rule? {
        ratePerSecond > 0 ? .init(ratePerSecond: ratePerSecond, burst: burst) : nil
    }

    private static func changeMembership(
        _ membership: MembershipService?,
        _ change: (MembershipService) async throws -> Void
    ) async throws {
        guard let membership else { throw ClusterChangeError.unavailable("a node without PostgreSQL has no membership to change") }
        do {
            try await change(membership)
        } catch MembershipStoreError.changeInProgress(let why) {
            throw ClusterChangeError.inProgress(why)
        } catch MembershipStoreError.refused(let why) {
            throw ClusterChangeError.refused(why)
        } catch {
            throw ClusterChangeError.unavailable("the membership cannot be changed now: \(error)")
        }
    }

    static func clusterStatus(
        _ membership: Membership?,
        store: SKUStore,
        nodeID: String,
        syncer: ClusterStatus.Syncer?
    ) async throws -> ClusterStatus {
        guard let membership else { throw SaleError.unavailable("this node has not joined the cluster yet") }
        let localCount = try await store.skuCount()
        let slots = membership.slotCounts()
        return ClusterStatus(
            epoch: membership.epoch,
            rebalancing: membership.isRebalancing,
            nodes: membership.nodes.map { node in
                .init(
                    id: node.id,
                    clientUrl: node.clientURL,
                    peerAddress: node.peerAddress,
                    // The recorded state, or down once the node's heartbeat lease has run out.
                    state: node.isLive ? node.state.rawValue : Membership.NodeState.down.rawValue,
                    skuCount: node.id == nodeID ? localCount : node.skuCount,
                    slots: Int64(slots[node.id] ?? 0),
                    handoff: node.handoff.epoch == membership.epoch
                        ? .init(
                            toMove: node.handoff.toMove,
                            moved: node.handoff.moved,
                            failedAttempts: node.handoff.failedAttempts,
                            finished: node.handoff.isFinished
                        ) : nil,
                    adoptedBy: node.adoptedBy
                )
            },
            syncer: syncer ?? .init(leader: nil, fencingEpoch: 0, lagSeconds: nil)
        )
    }
}

/// A value that two services need from each other, set once both exist (see CoordinatorNode.init).
private final class LateBinding<Value: Sendable>: Sendable {
    private let slot = Mutex<Value?>(nil)

    var value: Value? {
        get { self.slot.withLock { $0 } }
        set { self.slot.withLock { $0 = newValue } }
    }
}
