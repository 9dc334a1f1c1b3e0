import FlashSaleCore
import Testing

@Suite struct RFC3339Tests {
    static let instants: [(Int64, String)] = [
        (0, "1970-01-01T00:00:00.000Z"),
        (951_782_400_123, "2000-02-29T00:00:00.123Z"),
        (1_764_043_435_123, "2025-11-25T04:03:55.123Z"),
        (4_102_444_799_999, "2099-12-31T23:59:59.999Z"),
    ]

    @Test(arguments: Self.instants)
    func formatsRFC3339(_ milliseconds: Int64, _ expected: String) {
        #expect(RFC3339.format(milliseconds: milliseconds) == expected)
    }

    @Test(arguments: Self.instants)
    func parsesWhatItFormats(_ milliseconds: Int64, _ text: String) {
        #expect(RFC3339.parse(text) == milliseconds)
    }

    @Test func parsesOffsetsAndFractionsAndRefusesTheRest() {
        #expect(RFC3339.parse("2026-12-24T10:00:00Z") == 1_798_106_400_000)
        #expect(RFC3339.parse("2026-12-24T11:30:00+01:30") == 1_798_106_400_000)
        #expect(RFC3339.parse("2026-12-24T08:00:00-02:00") == 1_798_106_400_000)
        #expect(RFC3339.parse("2026-12-24t10:00:00.1z") == 1_798_106_400_100)
        #expect(RFC3339.parse("2026-12-24 10:00:00.123999Z") == 1_798_106_400_123)
        for refused in [
            "", "2026-12-24", "2026-12-24T10:00Z", "2026-12-24T10:00:00", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z",
            "2026-12-24T24:00:00Z", "2026-12-24T10:00:00.Z", "2026-12-24T10:00:00+0100", "1969-12-31T23:59:59Z",
            "2026-12-24T10:00:00Z ", "+2026-12-24T10:00:00Z",
        ] {
            #expect(RFC3339.parse(refused) == nil, "\(refused)")
        }
    }
}
