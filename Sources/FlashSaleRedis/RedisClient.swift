import BlockingIO
import Foundation
public import Logging
public import ServiceLifecycle
import Metrics
import Synchronization

/// Where a Redis shard listens: `redis://host:port`.
public struct RedisEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init(url: String) throws(RedisClientError) {
        guard let components = URLComponents(string: url), components.scheme == "redis",
            let host = components.host, !host.isEmpty
        else {
            throw .notConnected("not a redis://host:port URL: \(url)")
        }
        self.init(host: host, port: components.port ?? 6379)
    }

    public var description: String { "redis://\(self.host):\(self.port)" }
}

/// A pipelining Redis client: each connection is owned by its own thread, and every request queued
/// while that thread waits on Redis goes out in the next round trip.
///
/// A request is a short list of commands whose replies come back in order. When Redis goes away,
/// queued requests fail at once with `notConnected` (never sent), those in flight with
/// `connectionLost` (may have run), and the thread reconnects with backoff.
public final class RedisClient: Service, Sendable {
    public struct Configuration: Sendable {
        public var connectionCount: Int
        /// Requests waiting per connection before new ones are refused with `overloaded`.
        public var queueCapacityPerConnection: Int
        /// Requests written in one round trip.
        public var pipelineDepthMax: Int
        public var timeoutMilliseconds: Int
        public var reconnectBackoffMaxMilliseconds: Int
        /// When set, no reply of a round trip is given until the shard's replicas have its writes.
        public var replication: Replication?

        public init(
            connectionCount: Int = 2,
            queueCapacityPerConnection: Int = 8192,
            pipelineDepthMax: Int = 512,
            timeoutMilliseconds: Int = 2000,
            reconnectBackoffMaxMilliseconds: Int = 1000,
            replication: Replication? = nil
        ) {
            self.connectionCount = connectionCount
            self.queueCapacityPerConnection = queueCapacityPerConnection
            self.pipelineDepthMax = pipelineDepthMax
            self.timeoutMilliseconds = timeoutMilliseconds
            self.reconnectBackoffMaxMilliseconds = reconnectBackoffMaxMilliseconds
            self.replication = replication
        }
    }

    /// A round trip's writes count only once `replicas` replicas have them: the round trip ends
    /// with one `WAIT replicas timeout`, and when fewer replicas confirm in time every request of
    /// it fails with `notReplicated` (the writes may have run on the primary, as with a lost
    /// connection: a retry with the same requestId finds them). One WAIT per round trip, not per
    /// request: its cost is shared by everything pipelined with it.
    public struct Replication: Sendable, Hashable {
        public var replicas: Int
        /// How far behind a replica may fall before the shard stops acknowledging.
        public var timeoutMilliseconds: Int

        public init(replicas: Int = 1, timeoutMilliseconds: Int = 500) {
            precondition(replicas >= 1 && timeoutMilliseconds >= 1)
            self.replicas = replicas
            self.timeoutMilliseconds = timeoutMilliseconds
        }
    }

    /// Where the connections go; a shard's replica promoted to primary changes it (`retarget`).
    private let target: RedisTarget
    private let pipelines: [RedisPipeline]
    private let nextPipeline = Atomic<Int>(0)

    public init(endpoint: RedisEndpoint, configuration: Configuration = .init(), logger: Logger) {
        precondition(configuration.connectionCount >= 1)
        // hiredis writes with write(2): a peer that closed its socket must give EPIPE, not kill the process.
        signal(SIGPIPE, SIG_IGN)
        let target = RedisTarget(endpoint)
        self.target = target
        self.pipelines = (0..<configuration.connectionCount).map { index in
            RedisPipeline(target: target, index: index, configuration: configuration, logger: logger)
        }
    }

    public var endpoint: RedisEndpoint { self.target.endpoint }

    /// Sends every later round trip to `endpoint`: each connection to the old one is closed before
    /// its next round trip, so nothing written after this goes to the old server.
    public func retarget(_ endpoint: RedisEndpoint) {
        self.target.endpoint = endpoint
    }

    public func start() {
        for pipeline in self.pipelines { pipeline.thread.start() }
    }

    /// Answers every queued request, then ends the connection threads.
    public func stop() async {
        for pipeline in self.pipelines { await pipeline.thread.stop() }
    }

    /// Runs until graceful shutdown; the HTTP server, listed after it in the group, stops first.
    public func run() async throws {
        self.start()
        try? await gracefulShutdown()
        await self.stop()
    }

    public func send(_ command: [String]) async throws(RedisClientError) -> RedisReply {
        try await self.send([command])[0]
    }

    /// Sends commands back to back on one connection and returns their replies in order.
    public func send(_ commands: [[String]]) async throws(RedisClientError) -> [RedisReply] {
        precondition(!commands.isEmpty)
        let index = self.nextPipeline.wrappingAdd(1, ordering: .relaxed).oldValue
        let pipeline = self.pipelines[index % self.pipelines.count]
        let result: Result<[RedisReply], RedisClientError> = await withCheckedContinuation { continuation in
            do throws(BatchingThread<RedisRequest>.SubmitError) {
                try pipeline.thread.submit(RedisRequest(commands: commands, continuation: continuation))
            } catch {
                switch error {
                case .queueFull: continuation.resume(returning: .failure(.overloaded))
                case .stopped: continuation.resume(returning: .failure(.stopped))
                }
            }
        }
        return try result.get()
    }

    /// Round trips made so far: with pipelining, far fewer than requests under concurrency.
    public var roundTripCount: Int {
        self.pipelines.reduce(0) { $0 + $1.roundTrips.load(ordering: .relaxed) }
    }

}

struct RedisRequest: Sendable {
    let commands: [[String]]
    let continuation: CheckedContinuation<Result<[RedisReply], RedisClientError>, Never>

    func answer(_ result: Result<[RedisReply], RedisClientError>) {
        self.continuation.resume(returning: result)
    }
}

/// The server a client's connections go to, shared by its pipelines.
final class RedisTarget: Sendable {
    private let current: Mutex<RedisEndpoint>

    init(_ endpoint: RedisEndpoint) {
        self.current = Mutex(endpoint)
    }

    var endpoint: RedisEndpoint {
        get { self.current.withLock { $0 } }
        set { self.current.withLock { $0 = newValue } }
    }
}

/// One connection and the thread that owns it.
final class RedisPipeline: @unchecked Sendable {
    let thread: BatchingThread<RedisRequest>
    let roundTrips = Atomic<Int>(0)
    private let pipelineDepth = Recorder(label: "flashsale_redis_pipeline_depth")
    private let unreplicatedRoundTrips = Counter(label: "flashsale_redis_unreplicated_round_trips_total")
    // Touched only on `thread`.
    private var connection: HiredisConnection?
    /// Where `connection` goes.
    private var connectedTo: RedisEndpoint?
    private var reconnectNotBeforeNanoseconds: UInt64 = 0
    private var backoffMilliseconds = 0

    private let target: RedisTarget
    private let configuration: RedisClient.Configuration
    private let logger: Logger

    init(target: RedisTarget, index: Int, configuration: RedisClient.Configuration, logger: Logger) {
        self.target = target
        self.configuration = configuration
        self.logger = logger
        // The closure captures a box that is filled right below, so the thread can call back into self.
        let box = WeakBox()
        self.thread = BatchingThread(
            name: "redis-\(index)",
            queueCapacity: configuration.queueCapacityPerConnection,
            batchSizeMax: configuration.pipelineDepthMax
        ) { batch in
            guard let pipeline = box.pipeline else {
                for request in batch { request.answer(.failure(.stopped)) }
                return
            }
            pipeline.process(batch)
        }
        box.pipeline = self
    }

    private final class WeakBox: @unchecked Sendable {
        weak var pipeline: RedisPipeline?
    }

    private func process(_ batch: [RedisRequest]) {
        guard let connection = self.connectIfDue() else {
            let reason = "no connection to \(self.target.endpoint)"
            for request in batch { request.answer(.failure(.notConnected(reason))) }
            return
        }
        self.roundTrips.add(1, ordering: .relaxed)
        self.pipelineDepth.record(batch.count)
        let replication = self.configuration.replication
        do {
            for request in batch {
                for command in request.commands { try connection.append(command) }
            }
            if let replication { try connection.append(["WAIT", String(replication.replicas), String(replication.timeoutMilliseconds)]) }
        } catch {
            self.dropConnection(error)
            for request in batch { request.answer(.failure(error)) }
            return
        }
        guard let replication else {
            for (position, request) in batch.enumerated() {
                do {
                    request.answer(.success(try Self.readReplies(of: request, from: connection)))
                } catch {
                    self.dropConnection(error)
                    for unanswered in batch[position...] { unanswered.answer(.failure(error)) }
                    return
                }
            }
            return
        }
        var replies: [[RedisReply]] = []
        replies.reserveCapacity(batch.count)
        let confirmed: Int
        do throws(RedisClientError) {
            for request in batch { replies.append(try Self.readReplies(of: request, from: connection)) }
            let wait = try connection.readReply()
            guard let count = wait.integer else { throw .unexpectedReply("WAIT answered \(wait)") }
            confirmed = Int(count)
        } catch {
            self.dropConnection(error)
            for request in batch { request.answer(.failure(error)) }
            return
        }
        guard confirmed >= replication.replicas else {
            self.unreplicatedRoundTrips.increment()
            let failure = RedisClientError.notReplicated("\(confirmed) of \(replication.replicas) replicas confirmed within \(replication.timeoutMilliseconds) ms")
            for request in batch { request.answer(.failure(failure)) }
            return
        }
        for (request, replies) in zip(batch, replies) { request.answer(.success(replies)) }
    }

    private static func readReplies(of request: RedisRequest, from connection: HiredisConnection) throws(RedisClientError) -> [RedisReply] {
        var replies: [RedisReply] = []
        replies.reserveCapacity(request.commands.count)
        for _ in request.commands { replies.append(try connection.readReply()) }
        return replies
    }

    private func connectIfDue() -> HiredisConnection? {
        let endpoint = self.target.endpoint
        if let connection = self.connection {
            if self.connectedTo == endpoint { return connection }
            self.logger.info("moving to another Redis server", metadata: ["from": "\(self.connectedTo.map(String.init(describing:)) ?? "")", "to": "\(endpoint)"])
            self.connection = nil
            self.backoffMilliseconds = 0
            self.reconnectNotBeforeNanoseconds = 0
        }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now >= self.reconnectNotBeforeNanoseconds else { return nil }
        do {
            let connection = try HiredisConnection(
                host: endpoint.host,
                port: endpoint.port,
                timeoutMilliseconds: self.configuration.timeoutMilliseconds
            )
            if self.backoffMilliseconds > 0 {
                self.logger.info("reconnected to Redis", metadata: ["redis": "\(endpoint)"])
            }
            self.backoffMilliseconds = 0
            self.connection = connection
            self.connectedTo = endpoint
            return connection
        } catch {
            self.backoffMilliseconds = min(
                max(self.backoffMilliseconds * 2, 50),
                self.configuration.reconnectBackoffMaxMilliseconds
            )
            self.reconnectNotBeforeNanoseconds = now + UInt64(self.backoffMilliseconds) * 1_000_000
            self.logger.warning(
                "cannot connect to Redis",
                metadata: ["redis": "\(endpoint)", "error": "\(error)", "retryInMs": "\(self.backoffMilliseconds)"]
            )
            return nil
        }
    }

    private func dropConnection(_ error: RedisClientError) {
        self.logger.warning("lost the Redis connection", metadata: ["redis": "\(self.target.endpoint)", "error": "\(error)"])
        self.connection = nil
    }
}
