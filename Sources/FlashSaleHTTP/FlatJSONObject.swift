/// The members of a flat JSON object whose values are plain strings (no escapes) or integers:
/// the shape of nearly every reservation body. The reservation path reads such bodies here, because
/// Foundation's `JSONDecoder` was its largest single cost in the profile; any other shape (an
/// escape, a nested value, a fraction, a repeated key, bad UTF-8) gives nil and the body goes to
/// `JSONDecoder`, which decides and words any error, so the API's answers do not change.
struct FlatJSONObject {
    enum Value: Equatable {
        case string(String)
        case integer(Int64)
    }

    private(set) var members: [String: Value] = [:]

    init?(_ bytes: some Collection<UInt8>) {
        var scanner = Scanner(bytes: Array(bytes))
        guard scanner.take(UInt8(ascii: "{")) else { return nil }
        if scanner.take(UInt8(ascii: "}")) {
            guard scanner.atEnd else { return nil }
            return
        }
        repeat {
            guard let key = scanner.string(), scanner.take(UInt8(ascii: ":")), let value = scanner.value(),
                self.members.updateValue(value, forKey: key) == nil
            else { return nil }
        } while scanner.take(UInt8(ascii: ","))
        guard scanner.take(UInt8(ascii: "}")), scanner.atEnd else { return nil }
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0

        var atEnd: Bool {
            mutating get {
                self.skipSpace()
                return self.index == self.bytes.count
            }
        }

        mutating func skipSpace() {
            while self.index < self.bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(self.bytes[self.index]) { self.index += 1 }
        }

        mutating func take(_ byte: UInt8) -> Bool {
            self.skipSpace()
            guard self.index < self.bytes.count, self.bytes[self.index] == byte else { return false }
            self.index += 1
            return true
        }

        mutating func string() -> String? {
            guard self.take(UInt8(ascii: "\"")) else { return nil }
            let start = self.index
            while self.index < self.bytes.count {
                let byte = self.bytes[self.index]
                if byte == UInt8(ascii: "\"") {
                    self.index += 1
                    return String(validating: self.bytes[start..<self.index - 1], as: UTF8.self)
                }
                // An escape or a control character: JSONDecoder's to read or refuse.
                if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
                self.index += 1
            }
            return nil
        }

        mutating func value() -> Value? {
            self.skipSpace()
            guard self.index < self.bytes.count else { return nil }
            if self.bytes[self.index] == UInt8(ascii: "\"") { return self.string().map(Value.string) }
            return self.integer().map(Value.integer)
        }

        /// `-?(0|[1-9][0-9]*)` not followed by a fraction or an exponent, within Int64.
        mutating func integer() -> Int64? {
            var negative = false
            if self.bytes[self.index] == UInt8(ascii: "-") {
                negative = true
                self.index += 1
            }
            let start = self.index
            var magnitude: Int64 = 0
            while self.index < self.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self.bytes[self.index]) {
                let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times10.addingReportingOverflow(Int64(self.bytes[self.index] - UInt8(ascii: "0")))
                guard !overflow1, !overflow2 else { return nil }
                magnitude = sum
                self.index += 1
            }
            let digits = self.index - start
            guard digits > 0, digits == 1 || self.bytes[start] != UInt8(ascii: "0") else { return nil }
            if self.index < self.bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(self.bytes[self.index]) {
                return nil
            }
            return negative ? -magnitude : magnitude
        }
    }
}
