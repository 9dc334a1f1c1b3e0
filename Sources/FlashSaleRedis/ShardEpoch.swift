/// Tells another node's shard of a membership epoch, once, without a client of its own: the node
/// whose join raised the epoch tells every shard, so that a node that has not heard of the new
/// membership yet is refused by its own shard (stale_epoch) instead of routing by the old placement.
public enum ShardEpoch {
    /// Runs epoch.lua on the shard at `redisURL` on a thread of its own (hiredis blocks); answers
    /// the shard's epoch afterwards.
    public static func record(_ epoch: Int64, redisURL: String, timeoutMilliseconds: Int = 1000) async throws -> Int64 {
        let script = RedisScript.load(.epoch).source
        return try await HiredisConnection.once(redisURL, timeoutMilliseconds: timeoutMilliseconds) { connection in
            let reply = try connection.command(["EVAL", script, "0", String(epoch)])
            guard let recorded = reply.integer else { throw RedisClientError.unexpectedReply("\(reply)") }
            return recorded
        }
    }
}
