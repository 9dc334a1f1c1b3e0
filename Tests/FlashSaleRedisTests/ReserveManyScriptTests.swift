import FlashSaleCore
import FlashSaleRedis
import FlashSaleTesting
import Testing

/// reserve_many.lua against reserve.lua: the same requests, one call each on one shard and all in
/// one call on another, with the same ids and the same script clock, give the same replies, the
/// same SKU and the same outbox events.
@Suite struct ReserveManyScriptTests {
    /// user, quantity, requestId, id: two for u1 then one over its limit, two units for u2, a
    /// repeat, the last unit, then sold out, and a repeat inside the batch of a request of it.
    static let requests: [[String]] = [
        ["u1", "1", "q1", "r1"], ["u1", "1", "q2", "r2"], ["u1", "1", "q3", "r3"], ["u2", "2", "q4", "r4"],
        ["u1", "1", "q1", "r5"], ["u3", "1", "q5", "r6"], ["u4", "1", "q6", "r7"], ["u3", "1", "q5", "r8"],
    ]

    @Test func oneCallForManyAnswersAndRecordsExactlyAsOneCallEach() async throws {
        try await TestShard.withShards(2, scriptTime: .supplied) { shards in
            let (single, batched) = (shards[0], shards[1])
            try await batched.setScriptClock(milliseconds: try await single.scriptClockMilliseconds())
            for shard in shards {
                _ = try await shard.store.scripts.run(.define, ["s", "5", "2", "600", "create", "1", "unfenced"])
            }
            var one: [RedisReply] = []
            for request in Self.requests {
                one.append(try await single.store.scripts.run(.reserve, ["s"] + request + ["unfenced"]))
            }
            let together = try await batched.store.scripts.run(.reserveMany, ["s"] + Self.requests.flatMap { $0 } + ["unfenced"])
            #expect(together == .array(one))
            #expect(one.map { $0.array?.first?.string } == [
                "created", "created", "limit_exceeded", "created", "repeated", "created", "sold_out", "repeated",
            ])
            for key in ["fs:{s}:meta", "fs:{s}:users", "fs:{s}:req"] {
                #expect(try await Self.hash(single, key) == Self.hash(batched, key), "\(key)")
            }
            #expect(try await Self.outbox(single) == Self.outbox(batched))
            #expect(try await single.client.send(["ZRANGE", "fs:expiry", "0", "-1", "WITHSCORES"])
                == batched.client.send(["ZRANGE", "fs:expiry", "0", "-1", "WITHSCORES"]))
        }
    }

    @Test func aBatchForAnUnknownOrStaleSKUIsRefusedWhole() async throws {
        try await TestShard.withShards(1) { shards in
            let scripts = shards[0].store.scripts
            #expect(try await scripts.run(.reserveMany, ["nope"] + Self.requests.prefix(2).flatMap { $0 } + ["unfenced"]) == .array([.string("unknown_sku")]))
            _ = try await scripts.run(.epoch, ["7"])
            let stale = try await scripts.run(.reserveMany, ["nope"] + Self.requests.prefix(2).flatMap { $0 } + ["6"])
            #expect(stale == .array([.string("stale_epoch"), .integer(7)]))
        }
    }

    /// Through the store: buyers of one SKU that queue behind its call in flight share the next
    /// call, and each still gets its own answer.
    @Test func concurrentBuyersOfOneSKUShareScriptCalls() async throws {
        try await TestShard.withShards(1) { shards in
            let store = shards[0].store
            _ = try await store.defineSKU("hot", settings: SKUSettings(stock: 50))
            let before = try await Self.scriptCalls(shards[0])
            let outcomes = await withTaskGroup(of: String.self) { group in
                for buyer in 0..<400 {
                    group.addTask {
                        switch await store.run(.reserve(sku: "hot", user: "u\(buyer)", quantity: 1, requestId: "q\(buyer)")) {
                        case .receipt(let receipt): receipt.isNew ? "created" : "repeated"
                        case .failure(let error): "\(error)"
                        default: "unexpected"
                        }
                    }
                }
                return await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
            }
            #expect(outcomes == ["created": 50, "soldOut": 350])
            let calls = try await Self.scriptCalls(shards[0]) - before
            #expect(calls < 400, "400 reservations took \(calls) script calls")
            let state = try await store.skuState("hot")
            #expect(state.reserved == 50 && state.available == 0)
        }
    }

    static func scriptCalls(_ shard: TestShard) async throws -> Int {
        let info = try await shard.client.send(["INFO", "commandstats"]).string ?? ""
        let line = info.split(separator: "\r\n").first { $0.hasPrefix("cmdstat_evalsha:") } ?? ""
        return line.split(separator: ",").first?.split(separator: "=").last.flatMap { Int($0) } ?? 0
    }

    static func hash(_ shard: TestShard, _ key: String) async throws -> [String: String] {
        let fields = try await shard.client.send(["HGETALL", key]).array ?? []
        return Dictionary(uniqueKeysWithValues: stride(from: 0, to: fields.count, by: 2).map {
            (fields[$0].string ?? "", fields[$0 + 1].string ?? "")
        })
    }

    /// Every outbox event's fields, without the stream ids (which carry the time of the append).
    static func outbox(_ shard: TestShard) async throws -> [RedisReply] {
        let entries = try await shard.client.send(["XRANGE", "fs:outbox", "-", "+"]).array ?? []
        return entries.compactMap { $0.array?.last }
    }
}
