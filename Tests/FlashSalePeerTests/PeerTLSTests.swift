import FlashSaleCore
import FlashSaleTesting
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Testing

@testable import FlashSalePeer

/// The peer protocol over real sockets and real TLS, with certificates from cluster/lib.sh.
@Suite(.serialized) struct PeerTLSTests {
    static let logger = {
        var logger = Logger(label: "peer-test")
        logger.logLevel = .critical
        return logger
    }()

    /// CA "cluster" with n1, n2, n3; CA "other" with its own n1.
    let cluster: URL
    let other: URL

    init() throws {
        self.cluster = try TestCertificates.make(nodes: ["n1", "n2", "n3"])
        self.other = try TestCertificates.make(nodes: ["n1"])
    }

    func tls(_ id: String, in directory: URL? = nil) throws -> PeerTLS {
        try PeerTLS(directory: (directory ?? self.cluster).path, nodeID: id)
    }

    /// The owner's side: answers every request with the SKU's name in a state, so each response
    /// can be matched to its request.
    static func hooks(epoch: Int64 = 5) -> PeerNodeHooks {
        PeerNodeHooks(
            currentEpoch: { epoch },
            serve: { request in
                guard case .forward(let forwarded) = request else {
                    return .handoff(.init(responderEpoch: epoch, outcome: .refused("this test serves forwarded requests only")))
                }
                let state = SKUState(sku: forwarded.operation.sku, settings: .init(stock: 1), reserved: 0, committed: 0)
                return .forward(ForwardResponse(responderEpoch: epoch, outcome: .skuState(state)))
            },
            observeEpoch: { _ in }
        )
    }

    /// Runs a peer server for n2 on a free port until `body` returns.
    func withServer<Result>(port: Int? = nil, _ body: (PeerEndpoint) async throws -> Result) async throws -> Result {
        let port = port ?? ServerProcess.freePort()
        let server = PeerServer(host: "127.0.0.1", port: port, tls: try self.tls("n2"), hooks: Self.hooks(), logger: Self.logger)
        let task = Task { try await server.run() }
        defer { task.cancel() }
        // Polled with sleeps, not the blocking wait: the server's task needs a cooperative thread
        // too, and the other suites' blocking calls may hold the rest.
        var listening = false
        for _ in 0..<400 where !listening {
            listening = ServerProcess.isListening(port: port)
            if !listening { try await Task.sleep(for: .milliseconds(25)) }
        }
        guard listening else { throw TestServerError.didNotStart("peer server on port \(port)") }
        let result = try await body(PeerEndpoint(nodeID: "n2", host: "127.0.0.1", port: port))
        task.cancel()
        _ = await task.result
        return result
    }

    func pool(_ id: String = "n1", in directory: URL? = nil) throws -> PeerPool {
        PeerPool(tls: try self.tls(id, in: directory), hooks: Self.hooks(), logger: Self.logger)
    }

    static func request(_ sku: String) -> ForwardRequest {
        ForwardRequest(hopLimit: 1, senderEpoch: 5, operation: .skuState(sku: sku))
    }

    @Test func requestsAreMultiplexedOverMutualTLS() async throws {
        try await self.withServer { n2 in
            let pool = try self.pool()
            let skus = (0..<300).map { "sku-\($0)" }
            let answers = try await withThrowingTaskGroup(of: (String, SaleOutcome).self) { group in
                for sku in skus {
                    group.addTask { (sku, try await pool.forward(Self.request(sku), to: n2).outcome) }
                }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            for sku in skus {
                guard case .skuState(let state) = answers[sku] else {
                    Issue.record("no answer for \(sku)")
                    continue
                }
                #expect(state.sku == sku)
            }
            await pool.closeAll()
        }
    }

    @Test func aNodeFromAnotherCAIsRefusedAtTheHandshake() async throws {
        try await self.withServer { n2 in
            let stranger = try self.pool("n1", in: self.other)
            await #expect(throws: PeerLinkError.self) { try await stranger.forward(Self.request("a"), to: n2) }
            // Raw: the handshake fails and not a byte of the protocol comes back.
            let client = try self.clientConfiguration("n1", certificateFrom: self.other)
            let exchange = try await RawPeer.exchange(port: n2.port, tls: client, send: [PeerFrameCodec.encode(self.hello("n1"))])
            #expect(exchange.messages.isEmpty)
            #expect(exchange.closed)
            // The server's alert: it does not know the CA that signed the client's certificate.
            #expect(exchange.error is BoringSSLError && "\(exchange.error!)".contains("UNKNOWN_CA"), "\(String(describing: exchange.error))")
        }
    }

    @Test func aClientWithoutACertificateIsRefusedAtTheHandshake() async throws {
        try await self.withServer { n2 in
            var client = TLSConfiguration.makeClientConfiguration()
            client.trustRoots = .file(self.cluster.appendingPathComponent("ca.pem").path)
            client.certificateVerification = .noHostnameVerification
            let exchange = try await RawPeer.exchange(port: n2.port, tls: client, send: [PeerFrameCodec.encode(self.hello("n1"))])
            #expect(exchange.messages.isEmpty)
            #expect(exchange.closed)
            #expect(exchange.error is BoringSSLError && "\(exchange.error!)".contains("CERTIFICATE_REQUIRED"), "\(String(describing: exchange.error))")
        }
    }

    @Test func aNodeClaimingAnotherNodesIDIsRefused() async throws {
        try await self.withServer { n2 in
            // n3's valid certificate, but the hello says n1.
            let exchange = try await RawPeer.exchange(port: n2.port, tls: try self.clientConfiguration("n3"), send: [
                PeerFrameCodec.encode(self.hello("n1")),
                PeerFrameCodec.encode(.forwardRequest(stream: 1, Self.request("a"))),
            ])
            guard case .goAway(let reason) = exchange.messages.first, exchange.messages.count == 1 else {
                Issue.record("expected only a goAway, got \(exchange.messages)")
                return
            }
            #expect(reason.contains("n3"))
            #expect(exchange.closed)
        }
    }

    @Test func aMalformedFrameClosesOnlyThatConnection() async throws {
        try await self.withServer { n2 in
            let pool = try self.pool()
            _ = try await pool.forward(Self.request("before"), to: n2)
            var garbage = ByteBuffer()
            garbage.writeInteger(UInt32(3))
            garbage.writeBytes([1, 99, 0])
            let exchange = try await RawPeer.exchange(port: n2.port, tls: try self.clientConfiguration("n3"), send: [
                PeerFrameCodec.encode(self.hello("n3")), garbage,
            ])
            #expect(exchange.messages.count == 2, "\(exchange.messages)")
            guard case .hello(let hello) = exchange.messages.first, case .goAway = exchange.messages.last else {
                Issue.record("expected hello then goAway, got \(exchange.messages)")
                return
            }
            #expect(hello.nodeID == "n2")
            #expect(exchange.closed)
            // The pooled connection of n1 was not touched.
            guard case .skuState(let state) = try await pool.forward(Self.request("after"), to: n2).outcome else {
                Issue.record("the other connection broke")
                return
            }
            #expect(state.sku == "after")
            await pool.closeAll()
        }
    }

    @Test func aPeerThatComesBackIsReconnected() async throws {
        let port = ServerProcess.freePort()
        let pool = try self.pool()
        try await self.withServer(port: port) { n2 in _ = try await pool.forward(Self.request("a"), to: n2) }
        // The server is gone: the pooled connection closed with it.
        let endpoint = PeerEndpoint(nodeID: "n2", host: "127.0.0.1", port: port)
        await #expect(throws: PeerLinkError.self) { try await pool.forward(Self.request("b"), to: endpoint) }
        try await self.withServer(port: port) { n2 in
            var answered = false
            for _ in 0..<100 where !answered {
                answered = (try? await pool.forward(Self.request("c"), to: n2)) != nil
                if !answered { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(answered, "the pool did not reconnect")
        }
        await pool.closeAll()
    }

    func hello(_ id: String) -> PeerMessage {
        .hello(.init(nodeID: id, epoch: 1, minimumVersion: 1, maximumVersion: 1))
    }

    /// A client that trusts the cluster CA and presents `id`'s certificate from `directory`'s CA.
    func clientConfiguration(_ id: String, certificateFrom directory: URL? = nil) throws -> TLSConfiguration {
        let directory = directory ?? self.cluster
        var client = TLSConfiguration.makeClientConfiguration()
        client.certificateChain = try NIOSSLCertificate.fromPEMFile(directory.appendingPathComponent("\(id).pem").path).map { .certificate($0) }
        client.privateKey = .privateKey(try NIOSSLPrivateKey(file: directory.appendingPathComponent("\(id)-key.pem").path, format: .pem))
        client.trustRoots = .file(self.cluster.appendingPathComponent("ca.pem").path)
        client.certificateVerification = .noHostnameVerification
        return client
    }
}

/// A peer written by hand: sends raw bytes over TLS and reports what came back.
enum RawPeer {
    struct Exchange {
        var messages: [PeerMessage] = []
        var closed = false
        var error: (any Error)?
    }

    static func exchange(port: Int, tls: TLSConfiguration, send: [ByteBuffer]) async throws -> Exchange {
        let context = try NIOSSLContext(configuration: tls)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let closer = channel.channel
        let timeout = Task {
            try await Task.sleep(for: .seconds(10))
            try await closer.close()
        }
        defer { timeout.cancel() }
        var exchange = Exchange()
        let started = ContinuousClock.now
        try await channel.executeThenClose { inbound, outbound in
            var received = ByteBuffer()
            // A refusing server may close before our writes go out; its reason comes in on the
            // inbound side (the TLS alert), so a failed write only stops the writing.
            var writeError: (any Error)?
            for buffer in send where writeError == nil {
                do { try await outbound.write(buffer) } catch { writeError = error }
            }
            do {
                for try await buffer in inbound {
                    received.writeImmutableBuffer(buffer)
                    while let message = try PeerFrameCodec.decode(&received) { exchange.messages.append(message) }
                }
                // Closed by the server, not by the timeout.
                exchange.closed = ContinuousClock.now - started < .seconds(9)
                exchange.error = writeError
            } catch {
                exchange.error = error
                exchange.closed = true
            }
        }
        return exchange
    }
}
