public import Histogram
import NIOCore
import NIOHTTP1
import NIOPosix

/// An open-loop load of reservations against one node: request i is due at `OpenLoopSchedule`'s
/// instant and goes out on the first idle keep-alive connection (a new one is opened while fewer
/// than `connectionsMax` exist); its latency counts from when it was due. Every request is a new
/// buyer. One event loop thread, so the generator takes at most one core from the node it measures.
public final class OpenLoopLoad: Sendable {
    public struct Settings: Sendable {
        public var host: String
        public var port: Int
        /// Reservation paths (`/v1/skus/NAME/reservations`), taken in turn.
        public var paths: [String]
        public var ratePerSecond: Double
        public var duration: Duration
        public var connectionsMax: Int
        /// Requests due but not yet sent (no idle connection) that may wait; past it they are
        /// counted as not sent: the generator, not the node, is then the bottleneck.
        public var waitingMax: Int
        /// How long after the last scheduled request the run waits for answers.
        public var drainTimeout: Duration

        public init(
            host: String, port: Int, paths: [String], ratePerSecond: Double, duration: Duration,
            connectionsMax: Int = 1024, waitingMax: Int = 100_000, drainTimeout: Duration = .seconds(10)
        ) {
            precondition(!paths.isEmpty && connectionsMax >= 1 && waitingMax >= 0)
            self.host = host
            self.port = port
            self.paths = paths
            self.ratePerSecond = ratePerSecond
            self.duration = duration
            self.connectionsMax = connectionsMax
            self.waitingMax = waitingMax
            self.drainTimeout = drainTimeout
        }
    }

    public struct Report: Sendable {
        public var scheduled = 0
        public var notSent = 0
        /// Answers by HTTP status.
        public var statuses: [Int: Int] = [:]
        /// Sent, and neither answered nor failed by the end of the drain.
        public var unanswered = 0
        /// Connections that failed or closed with a request on them (that request had no answer).
        public var failed = 0
        public var connectionsOpened = 0
        /// From the first scheduled instant to the last answer.
        public var elapsed: Duration = .zero
        /// Microseconds from the instant each answered request was due to its answer.
        public var latency = Histogram<UInt64>(highestTrackableValue: 120_000_000)

        public var answered: Int { self.statuses.values.reduce(0, +) }
    }

    public let settings: Settings

    public init(settings: Settings) {
        self.settings = settings
    }

    public func run() async throws -> Report {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let promise = loop.makePromise(of: Report.self)
        let settings = self.settings
        loop.execute { OpenLoopDriver(settings: settings, loop: loop, done: promise).start() }
        let report = try await promise.futureResult.get()
        try await group.shutdownGracefully()
        return report
    }
}

/// The load's state, confined to its one event loop.
private final class OpenLoopDriver: @unchecked Sendable {
    private let settings: OpenLoopLoad.Settings
    private let schedule: OpenLoopSchedule
    private let loop: any EventLoop
    private let done: EventLoopPromise<OpenLoopLoad.Report>
    private let runID = UInt64.random(in: 0...UInt64(UInt32.max))
    private var report = OpenLoopLoad.Report()
    private var startedAt = NIODeadline.now()
    private var nextIndex = 0
    /// Due, waiting for an idle connection: (index, due instant).
    private var waiting: [(index: Int, due: NIODeadline)] = []
    private var waitingHead = 0
    private var idle: [OpenLoopConnection] = []
    private var open = 0
    private var connecting = 0
    private var inFlight = 0
    private var finished = false

    init(settings: OpenLoopLoad.Settings, loop: any EventLoop, done: EventLoopPromise<OpenLoopLoad.Report>) {
        self.settings = settings
        self.schedule = OpenLoopSchedule(ratePerSecond: settings.ratePerSecond, duration: settings.duration)
        self.loop = loop
        self.done = done
    }

    func start() {
        self.startedAt = .now()
        self.report.scheduled = self.schedule.count
        self.dispatch()
        let deadline = self.startedAt + self.schedule.offset(of: self.schedule.count - 1).timeAmount + self.settings.drainTimeout.timeAmount
        self.loop.scheduleTask(deadline: deadline) { self.finish() }
    }

    /// Queues every request that is due, sends what idle connections allow, opens connections for
    /// the rest, and wakes again when the next request is due.
    private func dispatch() {
        guard !self.finished else { return }
        let due = self.schedule.dueCount(after: .nanoseconds((NIODeadline.now() - self.startedAt).nanoseconds))
        while self.nextIndex < due {
            if self.waiting.count - self.waitingHead < self.settings.waitingMax {
                self.waiting.append((self.nextIndex, self.startedAt + self.schedule.offset(of: self.nextIndex).timeAmount))
            } else {
                self.report.notSent += 1
            }
            self.nextIndex += 1
        }
        self.sendWaiting()
        if self.nextIndex < self.schedule.count {
            let next = self.startedAt + self.schedule.offset(of: self.nextIndex).timeAmount
            self.loop.scheduleTask(deadline: next) { self.dispatch() }
        } else {
            self.finishIfDone()
        }
    }

    private func sendWaiting() {
        while self.waitingHead < self.waiting.count, let connection = self.idle.popLast() {
            let request = self.waiting[self.waitingHead]
            self.waitingHead += 1
            self.inFlight += 1
            connection.send(path: self.settings.paths[request.index % self.settings.paths.count], body: self.body(request.index), due: request.due)
        }
        if self.waitingHead == self.waiting.count {
            self.waiting.removeAll(keepingCapacity: true)
            self.waitingHead = 0
        }
        let wanted = self.waiting.count - self.waitingHead - self.connecting
        var toOpen = min(wanted, self.settings.connectionsMax - self.open - self.connecting)
        while toOpen > 0 {
            toOpen -= 1
            self.connect()
        }
    }

    private func body(_ index: Int) -> String {
        let buyer = "o\(self.runID)-\(index)"
        return #"{"user":"\#(buyer)","quantity":1,"requestId":"\#(buyer)"}"#
    }

    private func connect() {
        self.connecting += 1
        let host = self.settings.host
        ClientBootstrap(group: self.loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(OpenLoopConnection(driver: self, host: host))
                }
            }
            .connect(host: host, port: self.settings.port)
            .whenComplete { result in
                self.connecting -= 1
                switch result {
                case .success(let channel):
                    self.open += 1
                    self.report.connectionsOpened += 1
                    if let connection = try? channel.pipeline.syncOperations.handler(type: OpenLoopConnection.self) {
                        self.idle.append(connection)
                    }
                case .failure:
                    self.report.failed += 1
                }
                self.sendWaiting()
            }
    }

    func answered(_ connection: OpenLoopConnection, status: Int, due: NIODeadline) {
        self.inFlight -= 1
        self.report.statuses[status, default: 0] += 1
        let microseconds = max(0, (NIODeadline.now() - due).nanoseconds / 1000)
        _ = self.report.latency.record(UInt64(microseconds))
        self.report.elapsed = .nanoseconds((NIODeadline.now() - self.startedAt).nanoseconds)
        self.idle.append(connection)
        self.sendWaiting()
        self.finishIfDone()
    }

    func closed(_ connection: OpenLoopConnection, hadRequest: Bool) {
        self.open -= 1
        self.idle.removeAll { $0 === connection }
        if hadRequest {
            self.inFlight -= 1
            self.report.failed += 1
        }
        self.sendWaiting()
        self.finishIfDone()
    }

    private func finishIfDone() {
        if self.nextIndex == self.schedule.count && self.waitingHead == self.waiting.count && self.inFlight == 0 {
            self.finish()
        }
    }

    private func finish() {
        guard !self.finished else { return }
        self.finished = true
        self.report.unanswered = self.inFlight + (self.waiting.count - self.waitingHead)
        for connection in self.idle { connection.close() }
        self.done.succeed(self.report)
    }
}

/// One keep-alive connection: one request at a time.
private final class OpenLoopConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let driver: OpenLoopDriver
    private let host: String
    private var context: ChannelHandlerContext?
    private var due: NIODeadline?
    private var status = 0

    init(driver: OpenLoopDriver, host: String) {
        self.driver = driver
        self.host = host
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func send(path: String, body: String, due: NIODeadline) {
        guard let context = self.context else { return }
        self.due = due
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        head.headers.add(name: "Host", value: self.host)
        head.headers.add(name: "Content-Type", value: "application/json")
        head.headers.add(name: "Content-Length", value: String(body.utf8.count))
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        context.write(self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.status = Int(head.status.code)
        case .body:
            break
        case .end:
            guard let due = self.due else { return }
            self.due = nil
            self.driver.answered(self, status: self.status, due: due)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let hadRequest = self.due != nil
        self.due = nil
        self.context = nil
        self.driver.closed(self, hadRequest: hadRequest)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func close() {
        self.context?.close(promise: nil)
    }
}

extension Duration {
    fileprivate var timeAmount: TimeAmount {
        .nanoseconds(self.components.seconds * 1_000_000_000 + self.components.attoseconds / 1_000_000_000)
    }
}
