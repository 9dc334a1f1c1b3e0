import FlashSalePostgres
import FlashSaleRedis
import Foundation
public import Logging

/// Compares every SKU's counters in every registered Redis shard with the PostgreSQL record.
/// Read-only on both sides: it never runs a script, so it never expires anything itself.
public struct RecordAudit: Sendable {
    public struct Difference: Sendable, Hashable, CustomStringConvertible {
        public var sku: String
        public var shard: String?
        public var cluster: String
        public var record: String

        public var description: String {
            "\(self.sku) (shard \(self.shard ?? "none")): cluster \(self.cluster), record \(self.record)"
        }
    }

    public enum Outcome: Sendable, Hashable {
        /// The syncer has flushed every shard's outbox; these are the differences (none when right).
        case caughtUp([Difference])
        /// Some shard's outbox still holds events the record does not: no verdict yet.
        case behind(shards: [String])
    }

    private let postgresURL: String
    private let logger: Logger

    public init(postgresURL: String, logger: Logger) {
        self.postgresURL = postgresURL
        self.logger = logger
    }

    public func run() async throws -> Outcome {
        let postgres = PostgresClient(url: self.postgresURL)
        var clients: [RedisClient] = []
        do {
            let outcome = try await self.compare(postgres, opened: &clients)
            await Self.stop(postgres, clients)
            return outcome
        } catch {
            await Self.stop(postgres, clients)
            throw error
        }
    }

    private func compare(_ postgres: PostgresClient, opened clients: inout [RedisClient]) async throws -> Outcome {
        let writer = RecordWriter(holder: "audit")
        let shards = try await postgres.withConnection { try writer.shards($0) }
        var behind: [String] = []
        var cluster: [String: (shard: String, counters: [Int64])] = [:]
        for shard in shards {
            let client = RedisClient(
                endpoint: try RedisEndpoint(url: shard.redisURL),
                configuration: .init(connectionCount: 1),
                logger: self.logger
            )
            client.start()
            clients.append(client)
            let newest = try await client.send(["XREVRANGE", SKUKeys.outbox, "+", "-", "COUNT", "1"]).array?.first?.array?.first?.string
            let position = try await postgres.withConnection { try writer.position($0, shard: shard.nodeID) }
            if let newest, newest != position { behind.append(shard.nodeID) }
            let skus = try await client.send(["SMEMBERS", SKUKeys.skuIndex]).array?.compactMap(\.string) ?? []
            for sku in skus {
                let fields = try await client.send(["HMGET", SKUKeys.meta(sku), "stock", "reserved", "committed", "version"])
                cluster[sku] = (shard.nodeID, fields.array?.compactMap(\.integer) ?? [])
            }
        }
        if !behind.isEmpty { return .behind(shards: behind) }
        let rows = try await postgres.withConnection {
            try $0.execute("SELECT sku, stock, reserved, committed, version FROM inventory")
        }
        var differences: [Difference] = []
        var recorded: Set<String> = []
        for row in rows {
            guard let sku = row[0] else { continue }
            recorded.insert(sku)
            let record = row.dropFirst().compactMap { $0.flatMap { Int64($0) } }
            let mine = cluster[sku]
            if mine?.counters != record {
                differences.append(.init(sku: sku, shard: mine?.shard, cluster: Self.describe(mine?.counters), record: Self.describe(record)))
            }
        }
        for (sku, mine) in cluster where !recorded.contains(sku) {
            differences.append(.init(sku: sku, shard: mine.shard, cluster: Self.describe(mine.counters), record: "missing"))
        }
        return .caughtUp(differences.sorted { $0.sku < $1.sku })
    }

    private static func stop(_ postgres: PostgresClient, _ clients: [RedisClient]) async {
        await postgres.stop()
        for client in clients { await client.stop() }
    }

    private static func describe(_ counters: [Int64]?) -> String {
        guard let counters, counters.count == 4 else { return "missing" }
        return "stock \(counters[0]) reserved \(counters[1]) committed \(counters[2]) version \(counters[3])"
    }
}
