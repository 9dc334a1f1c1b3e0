public import Foundation

/// RFC 3339 instants with milliseconds by Foundation's formatter, not the node's own codec: what
/// the tests write and check the API's instants with, so that a fault in the codec cannot hide
/// behind itself.
public enum FoundationRFC3339 {
    public static func format(_ milliseconds: Int64) -> String {
        Self.formatter().string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }

    public static func milliseconds(_ text: String) -> Int64? {
        Self.formatter().date(from: text).map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }
    }

    private static func formatter() -> ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
