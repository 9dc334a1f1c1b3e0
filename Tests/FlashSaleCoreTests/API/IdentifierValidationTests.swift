import FlashSaleCore
import Testing

@Suite struct IdentifierValidationTests {
    @Test(arguments: ["a", "shoe-42", "user@example.com", "ünïcödé", "with space", String(repeating: "x", count: 128)])
    func accepts(_ value: String) {
        #expect(IdentifierValidation.problem(with: value, field: "sku") == nil)
    }

    @Test(arguments: ["", String(repeating: "x", count: 129), String(repeating: "é", count: 65), "tab\there", "new\nline", "nul\u{0}", "del\u{7F}", "c1\u{85}"])
    func refuses(_ value: String) {
        #expect(IdentifierValidation.problem(with: value, field: "sku") != nil)
    }

    @Test func countsBytesNotCharacters() {
        // 64 two-byte characters are exactly 128 bytes.
        #expect(IdentifierValidation.problem(with: String(repeating: "é", count: 64), field: "user") == nil)
    }

    @Test func availableIsDerivedSoConservationHolds() {
        let state = SKUState(sku: "s", settings: SKUSettings(stock: 10), reserved: 3, committed: 4)
        #expect(state.available + state.reserved + state.committed == state.settings.stock)
    }
}
