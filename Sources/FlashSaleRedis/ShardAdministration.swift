/// The calls that make a shard's replica its primary and an old primary a replica, each on a
/// connection and a thread of its own (hiredis blocks), outside the pipelines that carry sales.
public enum ShardAdministration {
    /// What a server says it is, a primary or a replica, with the shard's generation it holds (the
    /// number of promotions it has seen, 0 before any; a replica has its primary's by replication).
    public enum Role: Sendable, Hashable {
        case primary(generation: Int64)
        case replica(generation: Int64)
    }

    /// Where a primary records its generation; a replica has it by replication.
    public static let generationKey = "fs:generation"

    public static func role(of url: String, timeoutMilliseconds: Int = 300) async throws -> Role {
        try await HiredisConnection.once(url, timeoutMilliseconds: timeoutMilliseconds) { connection in
            let role = try connection.command(["ROLE"])
            guard let kind = role.array?.first?.string else { throw RedisClientError.unexpectedReply("ROLE answered \(role)") }
            let generation = try connection.command(["GET", Self.generationKey]).string.flatMap { Int64($0) } ?? 0
            return kind == "master" ? .primary(generation: generation) : .replica(generation: generation)
        }
    }

    /// Makes the server at `url` a primary and records `generation` in it. A server that refuses
    /// writes without a replica (min-replicas-to-write) has none yet: the generation is written
    /// with that rule lifted for the one command, then the rule is put back.
    public static func promote(_ url: String, generation: Int64, timeoutMilliseconds: Int = 1000) async throws {
        try await HiredisConnection.once(url, timeoutMilliseconds: timeoutMilliseconds) { connection in
            _ = try connection.command(["REPLICAOF", "NO", "ONE"])
            let rule = try connection.command(["CONFIG", "GET", "min-replicas-to-write"]).array?.last?.string ?? "0"
            _ = try connection.command(["CONFIG", "SET", "min-replicas-to-write", "0"])
            defer { _ = try? connection.command(["CONFIG", "SET", "min-replicas-to-write", rule]) }
            _ = try connection.command(["SET", Self.generationKey, String(generation)])
        }
    }

    /// Makes the server at `url` a replica of `primary`: it drops its data and copies the primary's.
    public static func follow(_ url: String, primary: String, timeoutMilliseconds: Int = 1000) async throws {
        let endpoint = try RedisEndpoint(url: primary)
        try await HiredisConnection.once(url, timeoutMilliseconds: timeoutMilliseconds) { connection in
            _ = try connection.command(["REPLICAOF", endpoint.host, String(endpoint.port)])
        }
    }
}
