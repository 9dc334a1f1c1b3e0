public import Configuration
public import FlashSaleHTTP
public import FlashSaleRedis
import FlashSaleCluster
import FlashSaleMembership
import FlashSalePeer
import Foundation
import NIOCore

/// Everything one coordinator needs to start, read from flags, environment (`FLASHSALE_*`) and an
/// optional JSON file, in that order of precedence.
public struct NodeConfiguration: Sendable {
    public var nodeID: String
    public var httpHost: String
    public var httpPort: Int
    public var redisURL: String
    public var redisConnections: Int
    /// When set, nothing is acknowledged until the shard's replicas have it (`redis.replicas`,
    /// `redis.replicaWaitMs`); nil (`redis.replicas` 0) acknowledges what the primary has.
    public var redisReplication: RedisClient.Replication?
    /// The shard's replica (`redis.replicaUrl`): with it, the node promotes the replica when the
    /// primary has not answered for `redisFailoverAfterMilliseconds` (`redis.failoverAfterMs`).
    public var redisReplicaURL: String?
    public var redisFailoverAfterMilliseconds: Int
    public var postgresURL: String?
    public var peerAddress: String
    /// Local address this node's outgoing peer connections come from (nil: the system's choice).
    /// Pins the interface on a multi-homed host, and on one machine tells each node's peer
    /// traffic apart (the chaos suite's partition blocks one node's address).
    public var peerSourceHost: String?
    public var adminToken: String
    public var sweepIntervalMilliseconds: Int
    public var tlsDirectory: String?
    /// Outbox entries a shard may hold while PostgreSQL is behind before reservations get 503.
    public var outboxLimit: Int
    /// How long the syncer leader's lease lasts without renewal: the failover time of the syncer.
    public var syncerLeaseTTLMilliseconds: Int
    /// How long a node's membership heartbeat lease lasts; past it the node shows as down.
    public var membershipLeaseMilliseconds: Int
    /// Relative capacity: a node of weight 2 is given about twice the SKUs of a node of weight 1.
    public var weight: Double
    /// SKUs this node hands over at a time while the membership changes: higher moves faster,
    /// lower disturbs the sale less.
    public var handoffConcurrency: Int
    /// Reservations a second one user may make through this node (0: unlimited), and the burst.
    public var userRequestsPerSecond: Double
    public var userBurst: Double?
    /// Sale API calls a second one client address may make to this node (0: unlimited, the
    /// default: behind a load balancer every client has its address), and the burst.
    public var addressRequestsPerSecond: Double
    public var addressBurst: Double?
    /// Client connections this node holds open at once; more wait to be accepted.
    public var httpConnectionsMax: Int
    /// Sale API requests worked on at once, waiting for a place, and how long one may wait before
    /// it is shed with 503 (nil, the default: no admission control).
    public var admission: AdmissionQueue.Settings?
    /// How long a sold-out SKU's herd is answered from memory before the shard is asked again
    /// (0: never from memory). Below the membership lease minus its heartbeat interval.
    public var soldOutMemoMilliseconds: Int
    /// How often the archiver looks for ended sales whose reservations are all in the record, to
    /// take them out of this node's shard (0: never; needs PostgreSQL).
    public var archiveIntervalMilliseconds: Int
    /// SKUs the archiver takes on in one look (each is one script call on the shard).
    public var archiveSKUsPerPass: Int
    /// How long a cart's coordinator may be silent before another node finishes or undoes the cart.
    public var cartRecoveryMilliseconds: Int

    public enum Problem: Error, CustomStringConvertible {
        case missing(String)
        case invalid(String)

        public var description: String {
            switch self {
            case .missing(let what): "configuration: \(what) is required"
            case .invalid(let what): "configuration: \(what)"
            }
        }
    }

    public init(
        nodeID: String,
        httpHost: String = "127.0.0.1",
        httpPort: Int,
        redisURL: String,
        redisConnections: Int = 1,
        redisReplication: RedisClient.Replication? = nil,
        redisReplicaURL: String? = nil,
        redisFailoverAfterMilliseconds: Int = 5000,
        postgresURL: String? = nil,
        peerAddress: String = "",
        peerSourceHost: String? = nil,
        adminToken: String,
        sweepIntervalMilliseconds: Int = 250,
        tlsDirectory: String? = nil,
        outboxLimit: Int = 1_000_000,
        syncerLeaseTTLMilliseconds: Int = 5000,
        membershipLeaseMilliseconds: Int = 5000,
        weight: Double = 1,
        handoffConcurrency: Int = 8,
        userRequestsPerSecond: Double = 20,
        userBurst: Double? = nil,
        addressRequestsPerSecond: Double = 0,
        addressBurst: Double? = nil,
        httpConnectionsMax: Int = 10_000,
        admission: AdmissionQueue.Settings? = nil,
        soldOutMemoMilliseconds: Int = 500,
        archiveIntervalMilliseconds: Int = 1000,
        archiveSKUsPerPass: Int = 32,
        cartRecoveryMilliseconds: Int = 10_000
    ) {
        self.nodeID = nodeID
        self.httpHost = httpHost
        self.httpPort = httpPort
        self.redisURL = redisURL
        self.redisConnections = redisConnections
        self.redisReplication = redisReplication
        self.redisReplicaURL = redisReplicaURL
        self.redisFailoverAfterMilliseconds = redisFailoverAfterMilliseconds
        self.postgresURL = postgresURL
        self.peerAddress = peerAddress
        self.peerSourceHost = peerSourceHost
        self.adminToken = adminToken
        self.sweepIntervalMilliseconds = sweepIntervalMilliseconds
        self.tlsDirectory = tlsDirectory
        self.outboxLimit = outboxLimit
        self.syncerLeaseTTLMilliseconds = syncerLeaseTTLMilliseconds
        self.membershipLeaseMilliseconds = membershipLeaseMilliseconds
        self.weight = weight
        self.handoffConcurrency = handoffConcurrency
        self.userRequestsPerSecond = userRequestsPerSecond
        self.userBurst = userBurst
        self.addressRequestsPerSecond = addressRequestsPerSecond
        self.addressBurst = addressBurst
        self.httpConnectionsMax = httpConnectionsMax
        self.admission = admission
        self.soldOutMemoMilliseconds = soldOutMemoMilliseconds
        self.archiveIntervalMilliseconds = archiveIntervalMilliseconds
        self.archiveSKUsPerPass = archiveSKUsPerPass
        self.cartRecoveryMilliseconds = cartRecoveryMilliseconds
    }

    /// Keys: node.id, http.host, http.port, redis.url, redis.connections, redis.replicas, redis.replicaWaitMs, redis.replicaUrl, redis.failoverAfterMs, postgres.url, peer.address,
    /// peer.sourceHost, admin.token or admin.tokenFile, sweep.intervalMs, tls.directory, outbox.limit, syncer.leaseTtlMs,
    /// membership.leaseMs, node.weight, handoff.concurrency, limits.userPerSecond, limits.userBurst,
    /// limits.addressPerSecond, limits.addressBurst, http.connectionsMax, admission.inFlightMax (0: no
    /// admission control), admission.waitingMax, admission.queueDeadlineMs, soldOut.memoMs,
    /// archive.intervalMs (0: no archiving), archive.skusPerPass.
    public init(reader: ConfigReader) throws {
        guard let nodeID = reader.string(forKey: "node.id") else { throw Problem.missing("node.id (--id)") }
        // A token file, given anywhere, wins over an inline token: `--admin-token-file` is the most
        // deliberate choice, and an inline FLASHSALE_ADMIN_TOKEN left in the environment must not override it.
        let token: String
        if let path = reader.string(forKey: "admin.tokenFile") {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw Problem.invalid("cannot read the admin token file \(path)")
            }
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        } else if let inline = reader.string(forKey: "admin.token", isSecret: true) {
            token = inline
        } else {
            throw Problem.missing("admin.token (FLASHSALE_ADMIN_TOKEN) or admin.tokenFile (--admin-token-file)")
        }
        guard !token.isEmpty else { throw Problem.invalid("the admin token is empty") }
        let port = reader.int(forKey: "http.port", default: 8080)
        guard (1...65535).contains(port) else { throw Problem.invalid("http.port \(port) is not a TCP port") }
        // One: every request queued while it waits on Redis shares its next round trip, and Redis
        // runs one command at a time anyway (side by side, one connection sold about a tenth more
        // than two; Docs/BENCHMARKS.md).
        let connections = reader.int(forKey: "redis.connections", default: 1)
        guard (1...64).contains(connections) else { throw Problem.invalid("redis.connections must be 1 to 64") }
        let replicas = reader.int(forKey: "redis.replicas", default: 0)
        let replicaWait = reader.int(forKey: "redis.replicaWaitMs", default: 500)
        guard (0...8).contains(replicas), (1...60_000).contains(replicaWait) else {
            throw Problem.invalid("redis.replicas must be 0 (acknowledge what the primary has) to 8, redis.replicaWaitMs 1 to 60000")
        }
        let redisURL = reader.string(forKey: "redis.url", default: "redis://127.0.0.1:6379")
        let replicaURL = reader.string(forKey: "redis.replicaUrl")
        if let replicaURL {
            guard (try? RedisEndpoint(url: replicaURL)) != nil, replicaURL != redisURL else {
                throw Problem.invalid("redis.replicaUrl must be a redis://host:port URL other than redis.url")
            }
        }
        let outboxLimit = reader.int(forKey: "outbox.limit", default: 1_000_000)
        guard outboxLimit >= 1 else { throw Problem.invalid("outbox.limit must be at least 1") }
        let leaseTTL = reader.int(forKey: "syncer.leaseTtlMs", default: 5000)
        guard leaseTTL >= 500 else { throw Problem.invalid("syncer.leaseTtlMs must be at least 500") }
        let membershipLease = reader.int(forKey: "membership.leaseMs", default: 5000)
        guard membershipLease >= 2000 else { throw Problem.invalid("membership.leaseMs must be at least 2000") }
        let failoverAfter = reader.int(forKey: "redis.failoverAfterMs", default: membershipLease)
        guard (500...600_000).contains(failoverAfter) else { throw Problem.invalid("redis.failoverAfterMs must be 500 to 600000") }
        let weight = reader.double(forKey: "node.weight", default: 1)
        guard weight > 0, weight <= 1000 else { throw Problem.invalid("node.weight must be above 0 and at most 1000") }
        let handoffConcurrency = reader.int(forKey: "handoff.concurrency", default: 8)
        guard (1...256).contains(handoffConcurrency) else { throw Problem.invalid("handoff.concurrency must be 1 to 256") }
        let userRate = reader.double(forKey: "limits.userPerSecond", default: 20)
        let addressRate = reader.double(forKey: "limits.addressPerSecond", default: 0)
        let userBurst = reader.double(forKey: "limits.userBurst")
        let addressBurst = reader.double(forKey: "limits.addressBurst")
        guard userRate >= 0, addressRate >= 0, (userBurst ?? 1) >= 1, (addressBurst ?? 1) >= 1 else {
            throw Problem.invalid("limits: rates must be at least 0 (0: unlimited) and bursts at least 1")
        }
        let connectionsMax = reader.int(forKey: "http.connectionsMax", default: 10_000)
        guard connectionsMax >= 1 else { throw Problem.invalid("http.connectionsMax must be at least 1") }
        // Off by default: side by side under a herd of 4,000 connections it shed a third of the
        // answers and lowered the sale rate (Docs/BENCHMARKS.md, "The herd").
        let inFlightMax = reader.int(forKey: "admission.inFlightMax", default: 0)
        let waitingMax = reader.int(forKey: "admission.waitingMax", default: 4096)
        let queueDeadline = reader.int(forKey: "admission.queueDeadlineMs", default: 50)
        guard inFlightMax >= 0, (0...1_000_000).contains(waitingMax), (0...60_000).contains(queueDeadline) else {
            throw Problem.invalid("admission: inFlightMax at least 0 (0: off), waitingMax 0 to 1,000,000, queueDeadlineMs 0 to 60,000")
        }
        let soldOutMemo = reader.int(forKey: "soldOut.memoMs", default: 500)
        // A node paused past its lease, whose shard a survivor adopted meanwhile, must find every
        // memo ended when it wakes (SoldOutMemo).
        let heartbeat = MembershipService.Settings(leaseMilliseconds: membershipLease).heartbeatMilliseconds
        guard soldOutMemo >= 0, soldOutMemo < membershipLease - heartbeat else {
            throw Problem.invalid("soldOut.memoMs must be at least 0 and below membership.leaseMs minus the \(heartbeat) ms heartbeat")
        }
        let archiveInterval = reader.int(forKey: "archive.intervalMs", default: 1000)
        guard archiveInterval == 0 || (10...3_600_000).contains(archiveInterval) else {
            throw Problem.invalid("archive.intervalMs must be 0 (no archiving) or 10 to 3600000")
        }
        let archivePerPass = reader.int(forKey: "archive.skusPerPass", default: 32)
        guard (1...1000).contains(archivePerPass) else { throw Problem.invalid("archive.skusPerPass must be 1 to 1000") }
        let cartRecovery = reader.int(forKey: "carts.recoveryMs", default: 10_000)
        guard (1000...600_000).contains(cartRecovery) else { throw Problem.invalid("carts.recoveryMs must be 1000 to 600000") }
        let peerAddress = reader.string(forKey: "peer.address", default: "")
        guard peerAddress.isEmpty || PeerEndpoint(nodeID: nodeID, address: peerAddress) != nil else {
            throw Problem.invalid("peer.address \(peerAddress) is not host:port")
        }
        let peerSourceHost = reader.string(forKey: "peer.sourceHost")
        if let peerSourceHost, (try? SocketAddress(ipAddress: peerSourceHost, port: 0)) == nil {
            throw Problem.invalid("peer.sourceHost \(peerSourceHost) is not an IP address")
        }
        self.init(
            nodeID: nodeID,
            httpHost: reader.string(forKey: "http.host", default: "127.0.0.1"),
            httpPort: port,
            redisURL: redisURL,
            redisConnections: connections,
            redisReplication: replicas == 0 ? nil : .init(replicas: replicas, timeoutMilliseconds: replicaWait),
            redisReplicaURL: replicaURL,
            redisFailoverAfterMilliseconds: failoverAfter,
            postgresURL: reader.string(forKey: "postgres.url", isSecret: true),
            peerAddress: peerAddress,
            peerSourceHost: peerSourceHost,
            adminToken: token,
            sweepIntervalMilliseconds: max(10, reader.int(forKey: "sweep.intervalMs", default: 250)),
            tlsDirectory: reader.string(forKey: "tls.directory"),
            outboxLimit: outboxLimit,
            syncerLeaseTTLMilliseconds: leaseTTL,
            membershipLeaseMilliseconds: membershipLease,
            weight: weight,
            handoffConcurrency: handoffConcurrency,
            userRequestsPerSecond: userRate,
            userBurst: userBurst,
            addressRequestsPerSecond: addressRate,
            addressBurst: addressBurst,
            httpConnectionsMax: connectionsMax,
            admission: inFlightMax == 0
                ? nil : .init(inFlightMax: inFlightMax, waitingMax: waitingMax, queueDeadline: .milliseconds(queueDeadline)),
            soldOutMemoMilliseconds: soldOutMemo,
            archiveIntervalMilliseconds: archiveInterval,
            archiveSKUsPerPass: archivePerPass,
            cartRecoveryMilliseconds: cartRecovery
        )
    }


    public var clientURL: String { "http://\(self.httpHost):\(self.httpPort)" }
}

extension NodeConfiguration {
    /// The same configuration with the shard's servers in the order one probe finds them: a node
    /// that starts after its replica was promoted (by itself before it stopped, or by the node
    /// that adopted its shard) writes to the promoted primary from its first request.
    public func locatingShardPrimary() async -> NodeConfiguration {
        guard let replicaURL = self.redisReplicaURL else { return self }
        let located = await ShardGuardian.locate(ShardServers(primary: self.redisURL, replica: replicaURL))
        var configuration = self
        configuration.redisURL = located.primary
        configuration.redisReplicaURL = located.replica
        return configuration
    }
}
