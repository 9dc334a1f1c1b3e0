import FlashSaleCore
import FlashSalePostgres
import FlashSaleRecord
import FlashSaleRedis
import Foundation
public import Logging

/// Compares every SKU's counters in every registered Redis shard with the PostgreSQL record: a
/// bucket's with its row of `inventory_buckets`, a split SKU's inventory row with its buckets' sum.
/// Read-only on both sides: it never runs a script, so it never expires anything itself.
public struct RecordAudit: Sendable {
    public struct Difference: Sendable, Hashable, CustomStringConvertible {
        public var sku: String
        public var shard: String?
        public var cluster: String
        public var record: String

        public var description: String {
            "\(Self.readable(self.sku)) (shard \(self.shard ?? "none")): cluster \(self.cluster), record \(self.record)"
        }

        /// A bucket's name as `sku#bucket` (its separator is not printable).
        static func readable(_ name: String) -> String {
            SKUBuckets.parse(name).map { "\($0.sku)#\($0.bucket)" } ?? name
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
        var split: [String: String] = [:]  // split SKU -> the shard of its own entry
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
                let fields = try await client.send(["HMGET", SKUKeys.meta(sku), "stock", "reserved", "committed", "version", "buckets"])
                let counters = fields.array?.compactMap(\.integer) ?? []
                if counters.count == 5, counters[4] > 1 {
                    split[sku] = shard.nodeID
                } else {
                    cluster[sku] = (shard.nodeID, Array(counters.prefix(4)))
                }
            }
        }
        if !behind.isEmpty { return .behind(shards: behind) }
        // A bucket's row, under the bucket's name.
        let records = try await postgres.withConnection { try RecordReader.inventory($0) }.map { row in
            (row.bucket.map { SKUBuckets.name(of: row.sku, bucket: $0) } ?? row.sku, [row.stock, row.reserved, row.committed, row.version])
        }
        var differences: [Difference] = []
        var recorded: Set<String> = []
        for (sku, record) in records {
            recorded.insert(sku)
            if let shard = split[sku] {
                // The split SKU's row is its buckets' sum, at a version of its own.
                let sum = cluster.filter { SKUBuckets.parse($0.key)?.sku == sku }.values.reduce([0, 0, 0]) { total, bucket in
                    zip(total, bucket.counters.prefix(3)).map { $0 + $1 }
                }
                if Array(record.prefix(3)) != sum {
                    differences.append(.init(sku: sku, shard: shard, cluster: "buckets' sum \(sum)", record: Self.describe(record)))
                }
                continue
            }
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
