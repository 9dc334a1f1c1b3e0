/// Bounds on every value a client can send. Lua numbers are doubles, exact to 2^53, so counters stay far below.
public enum Limits {
    public static let identifierBytesMax = 128
    public static let stockMax: Int64 = 1_000_000_000_000
    public static let quantityMax: Int64 = 1_000_000_000
    public static let perUserLimitMax: Int64 = 1_000_000_000_000
    /// Ten years: long enough for any sale, short enough that expiry instants stay exact.
    public static let reservationTtlSecondsMax: Int64 = 315_360_000
}

/// Identifiers (SKU, user, requestId, reservation id) are 1 to 128 bytes of printable UTF-8.
public enum IdentifierValidation {
    public static func problem(with value: String, field: String) -> String? {
        let bytes = value.utf8.count
        if bytes == 0 { return "\(field) must not be empty" }
        if bytes > Limits.identifierBytesMax { return "\(field) must be at most \(Limits.identifierBytesMax) bytes" }
        for scalar in value.unicodeScalars where !isPrintable(scalar) {
            return "\(field) must be printable UTF-8 (found U+\(String(scalar.value, radix: 16, uppercase: true)))"
        }
        return nil
    }

    public static func validate(_ value: String, field: String) throws(SaleError) {
        if let problem = problem(with: value, field: field) { throw .invalidRequest(problem) }
    }

    /// Control characters (C0, DEL, C1) and line/paragraph separators are not printable; everything else is.
    static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x2028, 0x2029: false
        default: true
        }
    }
}
