import Foundation
import Synchronization

/// Where the scripts read the time.
public enum ScriptTime: Sendable, Hashable {
    /// Redis TIME, read inside the script: the one clock per shard, in production.
    case redis
    /// The milliseconds in `SKUKeys.testClock`, which a test sets and moves by hand, so that no
    /// test waits for a TTL to pass.
    case supplied
}

/// One Lua script: the clock's file, `Scripts/prelude.lua`, then the script's own file.
public struct RedisScript: Sendable, Hashable {
    public enum Name: String, Sendable, CaseIterable {
        case define, sku, reserve, commit, release, read, sweep, epoch, close
        case reserveMany = "reserve_many"
        case export
        case importSnapshot = "import"
        case handed
        case transferOut = "transfer_out"
        case transferIn = "transfer_in"
        case transferDone = "transfer_done"
        case pending
        case soldOut = "soldout"
        case archivable, archive
        case prepareCommit = "prepare_commit"
        case cartRelease = "cart_release"
    }

    public let name: Name
    public let source: String

    public static func load(_ name: Name, time: ScriptTime = .redis) -> RedisScript {
        let clock = switch time {
        case .redis: "redis_time"
        case .supplied: "supplied_time"
        }
        return RedisScript(name: name, source: Self.text(of: clock) + Self.text(of: "prelude") + Self.text(of: name.rawValue))
    }

    private static func text(of file: String) -> String {
        guard let url = Bundle.module.url(forResource: file, withExtension: "lua", subdirectory: "Scripts"),
            let text = try? String(contentsOf: url, encoding: .utf8)
        else {
            preconditionFailure("the resource Scripts/\(file).lua is missing from the FlashSaleRedis bundle")
        }
        return text
    }
}

/// Runs scripts by EVALSHA. A script's SHA comes from SCRIPT LOAD the first time it is used;
/// after Redis restarts without its script cache, a NOSCRIPT reply loads it again and retries
/// in the same round trip.
public final class ScriptRunner: Sendable {
    public let client: RedisClient
    private let scripts: [RedisScript.Name: RedisScript]
    private let digests = Mutex<[RedisScript.Name: String]>([:])

    public init(client: RedisClient, time: ScriptTime = .redis) {
        self.client = client
        var scripts: [RedisScript.Name: RedisScript] = [:]
        for name in RedisScript.Name.allCases { scripts[name] = RedisScript.load(name, time: time) }
        self.scripts = scripts
    }

    public func script(_ name: RedisScript.Name) -> RedisScript {
        self.scripts[name]!
    }

    public func run(_ name: RedisScript.Name, _ arguments: [String]) async throws(RedisClientError) -> RedisReply {
        let script = self.script(name)
        let digest = try await self.digest(of: script)
        let evaluate = ["EVALSHA", digest, "0"] + arguments
        var reply = try await self.client.send(evaluate)
        if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
            reply = try await self.client.send([["SCRIPT", "LOAD", script.source], evaluate])[1]
        }
        if case .error(let message) = reply {
            throw .unexpectedReply("\(name.rawValue).lua: \(message)")
        }
        return reply
    }

    /// Loads every script; a readiness check that the shard answers and accepts them.
    public func loadAll() async throws(RedisClientError) {
        for script in self.scripts.values {
            _ = try await self.load(script)
        }
    }

    private func digest(of script: RedisScript) async throws(RedisClientError) -> String {
        if let digest = self.digests.withLock({ $0[script.name] }) { return digest }
        return try await self.load(script)
    }

    private func load(_ script: RedisScript) async throws(RedisClientError) -> String {
        let reply = try await self.client.send(["SCRIPT", "LOAD", script.source])
        guard let digest = reply.string else {
            throw .unexpectedReply("SCRIPT LOAD \(script.name.rawValue).lua: \(reply)")
        }
        self.digests.withLock { $0[script.name] = digest }
        return digest
    }
}

/// Key names for Swift code that reads or sets keys directly (the audit, the syncer, settings).
/// `Scripts/prelude.lua` defines the layout; these must match it.
public enum SKUKeys {
    public static let skuIndex = "fs:skus"
    public static let outbox = "fs:outbox"
    public static func meta(_ sku: String) -> String { "fs:{\(sku)}:meta" }
    public static let outboxLimit = "fs:outbox:limit"
    public static let moving = "fs:moving"
    public static let archived = "fs:archived"
    /// Written by the syncer after each read of the outbox, so that its round trip's WAIT covers what it read.
    public static let syncerReplicationMark = "fs:syncer:read"
    /// The time in milliseconds the scripts read under `ScriptTime.supplied` (tests only).
    public static let testClock = "fs:test:clock_ms"
}
