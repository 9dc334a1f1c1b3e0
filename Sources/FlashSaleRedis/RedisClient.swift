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

        public init(
            connectionCount: Int = 2,
            queueCapacityPerConnection: Int = 8192,
            pipelineDepthMax: Int = 512,
            timeoutMilliseconds: Int = 2000,
            reconnectBackoffMaxMilliseconds: Int = 1000
        ) {
            self.connectionCount = connectionCount
            self.queueCapacityPerConnection = queueCapacityPerConnection
            self.pipelineDepthMax = pipelineDepthMax
            self.timeoutMilliseconds = timeoutMilliseconds
            self.reconnectBackoffMaxMilliseconds = reconnectBackoffMaxMilliseconds
        }
    }

    public let endpoint: RedisEndpoint
    private let pipelines: [RedisPipeline]
    private let nextPipeline = Atomic<Int>(0)

    public init(endpoint: RedisEndpoint, configuration: Configuration = .init(), logger: Logger) {
        precondition(configuration.connectionCount >= 1)
        // hiredis writes with write(2): a peer that closed its socket must give EPIPE, not kill the process.
        signal(SIGPIPE, SIG_IGN)
        self.endpoint = endpoint
        self.pipelines = (0..<configuration.connectionCount).map { index in
            RedisPipeline(endpoint: endpoint, index: index, configuration: configuration, logger: logger)
        }
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

/// One connection and the thread that owns it.
final class RedisPipeline: @unchecked Sendable {
    let thread: BatchingThread<RedisRequest>
    let roundTrips = Atomic<Int>(0)
    private let pipelineDepth = Recorder(label: "flashsale_redis_pipeline_depth")
    // Touched only on `thread`.
    private var connection: HiredisConnection?
    private var reconnectNotBeforeNanoseconds: UInt64 = 0
    private var backoffMilliseconds = 0

    private let endpoint: RedisEndpoint
    private let configuration: RedisClient.Configuration
    private let logger: Logger

    init(endpoint: RedisEndpoint, index: Int, configuration: RedisClient.Configuration, logger: Logger) {
        self.endpoint = endpoint
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
            let reason = "no connection to \(self.endpoint)"
            for request in batch { request.answer(.failure(.notConnected(reason))) }
            return
        }
        self.roundTrips.add(1, ordering: .relaxed)
        self.pipelineDepth.record(batch.count)
        do {
            for request in batch {
                for command in request.commands { try connection.append(command) }
            }
        } catch {
            self.dropConnection(error)
            for request in batch { request.answer(.failure(error)) }
            return
        }
        for (position, request) in batch.enumerated() {
            var replies: [RedisReply] = []
            replies.reserveCapacity(request.commands.count)
            do {
                for _ in request.commands { replies.append(try connection.readReply()) }
            } catch {
                self.dropConnection(error)
                for unanswered in batch[position...] { unanswered.answer(.failure(error)) }
                return
            }
            request.answer(.success(replies))
        }
    }

    private func connectIfDue() -> HiredisConnection? {
        if let connection = self.connection { return connection }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now >= self.reconnectNotBeforeNanoseconds else { return nil }
        do {
            let connection = try HiredisConnection(
                host: self.endpoint.host,
                port: self.endpoint.port,
                timeoutMilliseconds: self.configuration.timeoutMilliseconds
            )
            if self.backoffMilliseconds > 0 {
                self.logger.info("reconnected to Redis", metadata: ["redis": "\(self.endpoint)"])
            }
            self.backoffMilliseconds = 0
            self.connection = connection
            return connection
        } catch {
            self.backoffMilliseconds = min(
                max(self.backoffMilliseconds * 2, 50),
                self.configuration.reconnectBackoffMaxMilliseconds
            )
            self.reconnectNotBeforeNanoseconds = now + UInt64(self.backoffMilliseconds) * 1_000_000
            self.logger.warning(
                "cannot connect to Redis",
                metadata: ["redis": "\(self.endpoint)", "error": "\(error)", "retryInMs": "\(self.backoffMilliseconds)"]
            )
            return nil
        }
    }

    private func dropConnection(_ error: RedisClientError) {
        self.logger.warning("lost the Redis connection", metadata: ["redis": "\(self.endpoint)", "error": "\(error)"])
        self.connection = nil
    }
}
