/// One reply from Redis, copied out of hiredis's reply object.
public enum RedisReply: Sendable, Hashable {
    case string(String)
    case integer(Int64)
    case array([RedisReply])
    case null
    /// An error reply for one command (for example NOSCRIPT); the connection is fine.
    case error(String)

    public var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var integer: Int64? {
        switch self {
        case .integer(let value): value
        case .string(let value): Int64(value)
        case .array, .null, .error: nil
        }
    }

    public var array: [RedisReply]? {
        if case .array(let value) = self { return value }
        return nil
    }
}

public enum RedisClientError: Error, Sendable, Hashable {
    /// No connection to Redis now; the command was not sent.
    case notConnected(String)
    /// The connection broke after the command was sent: it may or may not have run.
    case connectionLost(String)
    /// Too many commands already waiting for this Redis.
    case overloaded
    case stopped
    /// Redis answered something the caller did not expect.
    case unexpectedReply(String)
    /// The round trip ran, but fewer replicas than required confirmed its writes in time: they
    /// may be on the primary only, so nothing of it is acknowledged.
    case notReplicated(String)
}
