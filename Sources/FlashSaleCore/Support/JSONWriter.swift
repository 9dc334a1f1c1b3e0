/// Writes small JSON objects directly: no Encodable machinery on the hot path (API answers,
/// batches of rows for PostgreSQL).
public struct JSONWriter {
    private var text = "{"
    private var isFirst = true

    public static func object(_ build: (inout JSONWriter) -> Void) -> String {
        var writer = JSONWriter()
        build(&writer)
        writer.text.append("}")
        return writer.text
    }

    public mutating func field(_ name: String, _ value: String) {
        self.key(name)
        Self.appendQuoted(value, to: &self.text)
    }

    public mutating func field(_ name: String, _ value: Int64) {
        self.key(name)
        self.text.append(String(value))
    }

    public mutating func field(_ name: String, _ value: Double) {
        self.key(name)
        self.text.append(String(value))
    }

    public mutating func field(_ name: String, _ value: Bool) {
        self.key(name)
        self.text.append(value ? "true" : "false")
    }

    public mutating func nullField(_ name: String) {
        self.key(name)
        self.text.append("null")
    }

    /// A nested value written by the caller: an object or an array of objects.
    public mutating func raw(_ name: String, _ json: String) {
        self.key(name)
        self.text.append(json)
    }

    private mutating func key(_ name: String) {
        if !self.isFirst { self.text.append(",") }
        self.isFirst = false
        Self.appendQuoted(name, to: &self.text)
        self.text.append(":")
    }

    public static func appendQuoted(_ value: String, to text: inout String) {
        text.append("\"")
        // Identifiers are printable by validation, so the common case copies the string whole.
        if value.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            text.append(value)
            text.append("\"")
            return
        }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text.append("\\\"")
            case "\\": text.append("\\\\")
            case "\n": text.append("\\n")
            case "\r": text.append("\\r")
            case "\t": text.append("\\t")
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                text.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
            default: text.unicodeScalars.append(scalar)
            }
        }
        text.append("\"")
    }

    public static func array(_ elements: [String]) -> String {
        "[" + elements.joined(separator: ",") + "]"
    }
}
