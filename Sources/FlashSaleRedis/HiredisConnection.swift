internal import CHiredis
import Foundation

/// Owns one blocking hiredis context. Used only from the thread that made it: its `RedisPipeline`'s, or `once`'s.
final class HiredisConnection {
    private let context: UnsafeMutablePointer<redisContext>

    init(host: String, port: Int, timeoutMilliseconds: Int) throws(RedisClientError) {
        let timeout = timeval(tv_sec: timeoutMilliseconds / 1000, tv_usec: Int((timeoutMilliseconds % 1000) * 1000))
        guard let context = redisConnectWithTimeout(host, Int32(port), timeout) else {
            throw .notConnected("cannot allocate a Redis context")
        }
        if context.pointee.err != 0 {
            let message = Self.errorText(context)
            redisFree(context)
            throw .notConnected("\(host):\(port): \(message)")
        }
        // A stopped or hung Redis must not hold a request forever: reads and writes time out too.
        redisSetTimeout(context, timeout)
        redisEnableKeepAlive(context)
        self.context = context
    }

    deinit {
        redisFree(self.context)
    }

    /// Queues a command in hiredis's output buffer; nothing is sent until `readReply`.
    func append(_ arguments: [String]) throws(RedisClientError) {
        let result = Self.withArgv(arguments) { argc, argv, lengths in
            redisAppendCommandArgv(self.context, argc, argv, lengths)
        }
        if result != REDIS_OK { throw .connectionLost(Self.errorText(self.context)) }
    }

    /// Flushes the output buffer if needed and blocks until the next reply arrives.
    func readReply() throws(RedisClientError) -> RedisReply {
        var raw: UnsafeMutableRawPointer?
        guard redisGetReply(self.context, &raw) == REDIS_OK, let raw else {
            throw .connectionLost(Self.errorText(self.context))
        }
        defer { freeReplyObject(raw) }
        return Self.convert(raw.assumingMemoryBound(to: redisReply.self))
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let value = reply.pointee
        switch value.type {
        case REDIS_REPLY_STRING, REDIS_REPLY_STATUS:
            return .string(Self.text(value.str, value.len))
        case REDIS_REPLY_ERROR:
            return .error(Self.text(value.str, value.len))
        case REDIS_REPLY_INTEGER:
            return .integer(value.integer)
        case REDIS_REPLY_ARRAY:
            var elements: [RedisReply] = []
            elements.reserveCapacity(value.elements)
            for index in 0..<value.elements {
                guard let element = value.element[index] else { elements.append(.null); continue }
                elements.append(convert(element))
            }
            return .array(elements)
        default:
            return .null
        }
    }

    private static func text(_ pointer: UnsafeMutablePointer<CChar>?, _ length: Int) -> String {
        guard let pointer else { return "" }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// Lays every argument out in one buffer and hands hiredis pointers and lengths into it;
    /// hiredis copies them into its output buffer before returning.
    private static func withArgv(
        _ arguments: [String],
        _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> Int32
    ) -> Int32 {
        var bytes: [UInt8] = []
        var lengths: [Int] = []
        lengths.reserveCapacity(arguments.count)
        for argument in arguments {
            let utf8 = argument.utf8
            lengths.append(utf8.count)
            bytes.append(contentsOf: utf8)
        }
        if bytes.isEmpty { bytes.append(0) }
        return bytes.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { base in
                var pointers: [UnsafePointer<CChar>?] = []
                pointers.reserveCapacity(arguments.count)
                var offset = 0
                for length in lengths {
                    pointers.append(base + offset)
                    offset += length
                }
                return pointers.withUnsafeMutableBufferPointer { argv in
                    lengths.withUnsafeBufferPointer { lengthBuffer in
                        body(Int32(arguments.count), argv.baseAddress!, lengthBuffer.baseAddress!)
                    }
                }
            }
        }
    }
}

extension HiredisConnection {
    /// Runs `body` on a connection of its own to `url`, on a thread of its own (hiredis blocks):
    /// for the few calls made outside the pipelines that carry sales.
    static func once<Value: Sendable>(
        _ url: String,
        timeoutMilliseconds: Int,
        _ body: @escaping @Sendable (HiredisConnection) throws -> Value
    ) async throws -> Value {
        let endpoint = try RedisEndpoint(url: url)
        return try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                do {
                    let connection = try HiredisConnection(host: endpoint.host, port: endpoint.port, timeoutMilliseconds: timeoutMilliseconds)
                    continuation.resume(returning: try body(connection))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "redis-once"
            thread.start()
        }
    }

    /// Sends one command and reads its reply; an error reply is thrown.
    func command(_ arguments: [String]) throws(RedisClientError) -> RedisReply {
        try self.append(arguments)
        let reply = try self.readReply()
        if case .error(let message) = reply { throw .unexpectedReply("\(arguments.first ?? "") answered \(message)") }
        return reply
    }
}
