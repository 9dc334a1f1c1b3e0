public import Logging

/// The id of the client request a task is serving, so that every log line about it, on the node
/// that took it and on the owner it was forwarded to, carries the same `requestId`. Set by the
/// HTTP layer (from `X-Request-Id` or made up) and by the peer server (from the forwarded frame);
/// the logging system's metadata provider adds it to each line.
public enum RequestTrace {
    @TaskLocal public static var id: String?

    public static let metadataProvider = Logger.MetadataProvider {
        RequestTrace.id.map { ["requestId": .string($0)] } ?? [:]
    }

    /// An id a client may choose: 1 to 64 letters, digits, '.', '_' or '-' (it goes into logs).
    public static func isValid(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count)
            && id.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == 0x2E || byte == 0x5F || byte == 0x2D
            }
    }

    /// A fresh id: 16 random hex digits.
    public static func make() -> String {
        RandomPool.hex(RandomPool.next(), digits: 16)
    }
}
