import Foundation

/// The calls that make a shard's replica its primary and an old primary a replica, each on a
/// connection and a thread of its own (hiredis blocks), outside the pipelines that carry sales.
public enum ShardAdministration {
    /// What a server says it is: a primary, with the shard's generation (the number of promotions
    /// it has seen; 0 before any), or a replica.
    public enum Role: Sendable, Hashable {
        case primary(generation: Int64)
        case replica
    }

    /// Where a primary records its generation; a replica has it by replication.
    public static let generationKey = "fs:generation"

    public static func role(of url: String, timeoutMilliseconds: Int = 300) async throws -> Role {
        try await Self.onConnection(url, timeoutMilliseconds: timeoutMilliseconds) { connection in
            try connection.append(["ROLE"])
            let role = try connection.readReply()
            guard let kind = role.array?.first?.string else { throw RedisClientError.unexpectedReply("ROLE answered \(role)") }
            guard kind == "master" else { return .replica }
            try connection.append(["GET", Self.generationKey])
            let generation = try connection.readReply()
            return .primary(generation: generation.string.flatMap { Int64($0) } ?? 0)
        }
    }

    /// Makes the server at `url` a primary and records `generation` in it. A server that refuses
    /// writes without a replica (min-replicas-to-write) has none yet: the generation is written
    /// with that rule lifted for the one command, then the rule is put back.
    public static func promote(_ url: String, generation: Int64, timeoutMilliseconds: Int = 1000) async throws {
        try await Self.onConnection(url, timeoutMilliseconds: timeoutMilliseconds) { connection in
            func run(_ command: [String]) throws -> RedisReply {
                try connection.append(command)
                let reply = try connection.readReply()
                if case .error(let message) = reply { throw RedisClientError.unexpectedReply("\(command.prefix(2).joined(separator: " ")) answered \(message)") }
                return reply
            }
            _ = try run(["REPLICAOF", "NO", "ONE"])
            let rule = try run(["CONFIG", "GET", "min-replicas-to-write"]).array?.last?.string ?? "0"
            _ = try run(["CONFIG", "SET", "min-replicas-to-write", "0"])
            defer { _ = try? run(["CONFIG", "SET", "min-replicas-to-write", rule]) }
            _ = try run(["SET", Self.generationKey, String(generation)])
        }
    }

    /// Makes the server at `url` a replica of `primary`: it drops its data and copies the primary's.
    public static func follow(_ url: String, primary: String, timeoutMilliseconds: Int = 1000) async throws {
        let endpoint = try RedisEndpoint(url: primary)
        try await Self.onConnection(url, timeoutMilliseconds: timeoutMilliseconds) { connection in
            try connection.append(["REPLICAOF", endpoint.host, String(endpoint.port)])
            let reply = try connection.readReply()
            if case .error(let message) = reply { throw RedisClientError.unexpectedReply("REPLICAOF answered \(message)") }
        }
    }

    private static func onConnection<Value: Sendable>(
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
            thread.name = "shard-admin"
            thread.start()
        }
    }
}
