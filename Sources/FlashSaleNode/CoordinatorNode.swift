import FlashSaleCluster
public import FlashSaleCore
import FlashSaleHTTP
import FlashSaleMembership
import FlashSalePeer
import FlashSalePostgres
import FlashSaleRecord
import FlashSaleRedis
import FlashSaleSync
import Hummingbird
import HummingbirdCore
public import Logging
import Prometheus
public import ServiceLifecycle

/// One coordinator: its Redis shard's client, the expiry sweeper, the syncer, the membership, the
/// peer protocol and the HTTP API, as services in the order a ServiceGroup must start them (it
/// stops them in reverse: HTTP drains first).
public struct CoordinatorNode: Sendable {
    public let configuration: NodeConfiguration
    public let services: [any Service]

    public init(
        configuration: NodeConfiguration,
        metricsText: @escaping @Sendable () -> String,
        clock: any ServiceClock = SystemClock(),
        logger: Logger
    ) throws {
        self.configuration = configuration
        let redis = RedisClient(
            endpoint: try RedisEndpoint(url: configuration.redisURL),
            configuration: .init(connectionCount: configuration.redisConnections, replication: configuration.redisReplication),
            logger: logger
        )
        let failoverAfter = Duration.milliseconds(configuration.redisFailoverAfterMilliseconds)
        let guardian = configuration.redisReplicaURL.map { replicaURL in
            ShardGuardian(
                client: redis, servers: ShardServers(primary: configuration.redisURL, replica: replicaURL),
                failoverAfter: failoverAfter, clock: clock, logger: logger
            )
        }
        let this = Membership.Node(
            id: configuration.nodeID,
            clientURL: configuration.clientURL,
            peerAddress: configuration.peerAddress,
            redisURL: configuration.redisURL,
            replicaURL: configuration.redisReplicaURL,
            state: .active,
            weight: configuration.weight
        )
        // The membership this node routes by: fixed for a node without PostgreSQL, else published
        // by the membership service. Created first, so the services that read it need no other.
        let view = MembershipView(configuration.postgresURL == nil ? Membership(epoch: 1, nodes: [this]) : nil)
        let currentMembership: @Sendable () -> Membership? = { view.current }
        let store = SKUStore(
            scripts: ScriptRunner(client: redis),
            logger: logger,
            callerEpoch: { view.epoch },
            soldOutMemo: configuration.soldOutMemoMilliseconds > 0
                ? .init(lifetime: .milliseconds(configuration.soldOutMemoMilliseconds)) : nil,
            clock: clock
        )
        let sweeper = ExpirySweeper(
            store: store,
            intervalMilliseconds: configuration.sweepIntervalMilliseconds,
            clock: clock,
            logger: logger
        )
        let adopted = AdoptedShards(
            nodeID: this.id, local: store, replication: configuration.redisReplication, callerEpoch: { view.epoch },
            failoverAfter: failoverAfter, clock: clock, logger: logger
        )
        // Without PostgreSQL the node still sells; the record simply is not written.
        let syncer = configuration.postgresURL.map { url in
            Syncer(
                configuration: .init(
                    nodeID: configuration.nodeID,
                    redisURL: { guardian?.decided?.primary ?? configuration.redisURL },
                    adoptedShardURLs: { adopted.guardedShards.mapValues(\.primary) },
                    leaseTTL: .milliseconds(configuration.syncerLeaseTTLMilliseconds),
                    outboxLimit: configuration.outboxLimit,
                    replication: configuration.redisReplication
                ),
                postgresURL: url,
                localStore: store,
                clock: clock,
                logger: logger
            )
        }
        // The record for archived SKUs' reads and the archiver's checks: a connection of its own,
        // so that such a read never waits behind the syncer's flushes.
        let archivedRecord = configuration.postgresURL.map { ArchivedRecord(postgres: PostgresClient(url: $0)) }
        // What the peer links hear and the rebalancer finishes goes to the node's event loop, which
        // hands it to the services built after them.
        let events = NodeEvents(currentEpoch: { view.epoch })
        var peerServer: PeerServer?
        var peerPool: PeerPool?
        if let directory = configuration.tlsDirectory, let address = PeerEndpoint(nodeID: this.id, address: this.peerAddress) {
            let tls = try PeerTLS(directory: directory, nodeID: configuration.nodeID)
            let hooks = PeerNodeHooks(currentEpoch: { view.epoch }, serve: events.serve, observeEpoch: events.observe)
            peerPool = PeerPool(tls: tls, hooks: hooks, settings: .init(sourceHost: configuration.peerSourceHost), clock: clock, logger: logger)
            peerServer = PeerServer(host: address.host, port: address.port, tls: tls, hooks: hooks, clock: clock, logger: logger)
        }
        // This node's shard and those it has adopted: what the rebalancer moves SKUs from and the
        // transfer recovery scans.
        let servedShards: @Sendable () -> [(nodeID: String, store: SKUStore)] = {
            let adoptedNodes = view.current?.nodes.filter { $0.adoptedBy == this.id } ?? []
            return [(this.id, store)] + adoptedNodes.compactMap { node in adopted.store(for: node).map { (node.id, $0) } }
        }
        let rebalancer = configuration.postgresURL.map { _ in
            Rebalancer(
                shards: { servedShards().map { .init(nodeID: $0.nodeID, store: $0.store) } },
                membership: currentMembership,
                peers: { [peerPool] in peerPool },
                concurrency: configuration.handoffConcurrency,
                done: events.handoffDone,
                clock: clock,
                logger: logger
            )
        }
        let membership = configuration.postgresURL.map { url in
            MembershipService(
                node: this,
                settings: .init(leaseMilliseconds: configuration.membershipLeaseMilliseconds),
                postgresURL: url,
                view: view,
                skuCount: { try? await store.skuCount() },
                handoffs: { rebalancer?.reports ?? [:] },
                shards: {
                    var shards = adopted.guardedShards
                    shards[this.id] = guardian?.decided
                    return shards
                },
                adopted: { membership in
                    do {
                        try await store.recordEpoch(membership.epoch)
                    } catch {
                        logger.warning("cannot record the membership epoch in the shard", metadata: ["error": "\(error)"])
                    }
                    await adopted.keepOnly(adoptedBy: this.id, in: membership)
                    rebalancer?.membershipChanged()
                },
                announce: { [peerPool] membership in
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
                    peerPool?.notify(.epochChanged(epoch: membership.epoch), peers: peers)
                },
                clock: clock,
                logger: logger
            )
        }
        let receiver = HandoffReceiver(nodeID: this.id, shards: adopted, membership: currentMembership, clock: clock)
        let cluster = ClusterOperations(
            nodeID: configuration.nodeID,
            local: store,
            adopted: adopted,
            membership: currentMembership,
            catchUp: { epoch in await membership?.catchUp(to: epoch) },
            peers: peerPool,
            archivedRecord: archivedRecord
        )
        let operations = SplitSKUOperations(routed: cluster)
        let carts = configuration.postgresURL.map { url in
            CartCoordinator(
                nodeID: this.id, operations: operations, postgresURL: url,
                settings: .init(recoveryDelay: .milliseconds(configuration.cartRecoveryMilliseconds)), clock: clock, logger: logger
            )
        }
        let eventLoop = NodeEventLoop(events: events, membership: membership) { request in
            switch request {
            case .forward(let forwarded):
                return await RequestTrace.$id.withValue(forwarded.traceId.isEmpty ? nil : forwarded.traceId) {
                    logger.debug("serving a forwarded request", metadata: ["sku": "\(forwarded.operation.sku)"])
                    return .forward(await cluster.serve(forwarded))
                }
            case .previousOwner(let asked):
                return await RequestTrace.$id.withValue(asked.traceId.isEmpty ? nil : asked.traceId) {
                    logger.debug("serving as the previous owner", metadata: ["sku": "\(asked.operation.sku)"])
                    return .forward(await cluster.serveAsPreviousOwner(asked))
                }
            case .handoff(let chunk):
                await membership?.catchUp(to: chunk.senderEpoch)
                let outcome = await receiver.receive(chunk)
                return .handoff(.init(responderEpoch: view.epoch, outcome: outcome))
            }
        }

        let admission = configuration.admission.map { AdmissionGate(settings: $0, clock: clock) }
        let router = makeAPIRouter(
            APIDependencies(
                operations: operations,
                adminToken: configuration.adminToken,
                clusterStatus: {
                    try await Self.clusterStatus(currentMembership(), store: store, nodeID: this.id, syncer: syncer?.clusterStatus)
                },
                membershipEpoch: { view.epoch > 0 ? view.epoch : nil },
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
                        replicaURL: registration.redisReplicaUrl,
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
                ),
                admission: admission,
                carts: carts
            )
        )
        let http = Application(
            router: router,
            // An idle keep-alive connection holds one of the connection places: closed after a minute.
            server: .http1(configuration: .init(idleTimeout: .seconds(60))),
            configuration: .init(
                address: .hostname(configuration.httpHost, port: configuration.httpPort),
                serverName: "flashsale/\(configuration.nodeID)",
                // A herd connects all at once: with the default 256, connections past the accept
                // queue see their handshake's last step dropped and their request retransmitted
                // after 1, 3, 7 s. The kernel caps it at net.core.somaxconn.
                backlog: 4096,
                availableConnectionsDelegate: MaximumAvailableConnections(configuration.httpConnectionsMax)
            ),
            logger: logger
        )
        // The event loop stops after the peer server and HTTP (a ServiceGroup stops in reverse), so
        // a request they accepted is still served.
        var services: [any Service] = [
            redis, eventLoop, sweeper, NodeGauges(store: store, outboxLimit: configuration.outboxLimit, membership: currentMembership, clock: clock),
        ]
        if let guardian { services.append(guardian) }
        if let syncer { services.append(syncer) }
        if let archivedRecord, configuration.archiveIntervalMilliseconds > 0 {
            services.append(
                Archiver(
                    store: store, record: archivedRecord, intervalMilliseconds: configuration.archiveIntervalMilliseconds,
                    candidatesPerPass: configuration.archiveSKUsPerPass, clock: clock, logger: logger
                )
            )
        }
        if let membership { services.append(membership) }
        if let peerServer { services.append(peerServer) }
        if let rebalancer { services.append(rebalancer) }
        services.append(adopted)
        services.append(TransferRecovery(shards: { servedShards().map(\.store) }, operations: operations, clock: clock, logger: logger))
        if let carts { services.append(carts) }
        if let admission { services.append(admission) }
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
        } catch MembershipStoreError.unknownNode(let why) {
            throw ClusterChangeError.unknownNode(why)
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
            placement: membership.placement?.members.map { .init(id: $0.id, weight: $0.weight) } ?? [],
            syncer: syncer ?? .init(leader: nil, fencingEpoch: 0, lagSeconds: nil)
        )
    }
}
