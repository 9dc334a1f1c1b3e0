import FlashSaleCore
import Testing

@Suite struct ReservationLifecycleTests {
    static let expiresAt: Int64 = 10_000
    static let before: Int64 = 9_999
    static let after: Int64 = 10_000  // expiry is inclusive: due at the instant itself

    struct Case: CustomTestStringConvertible, Sendable {
        var status: ReservationStatus
        var now: Int64
        var command: ReservationCommand
        var action: ReservationAction
        var statusAfter: ReservationStatus
        var testDescription: String { "\(status) at \(now) + \(command)" }
    }

    static let table: [Case] = [
        .init(status: .reserved, now: before, command: .commit, action: .transition(to: .committed), statusAfter: .committed),
        .init(status: .reserved, now: before, command: .release, action: .transition(to: .released), statusAfter: .released),
        .init(status: .reserved, now: before, command: .expireIfDue, action: .unchanged, statusAfter: .reserved),
        .init(status: .reserved, now: after, command: .commit, action: .refuse(.expired, expiringNow: true), statusAfter: .expired),
        .init(status: .reserved, now: after, command: .release, action: .refuse(.expired, expiringNow: true), statusAfter: .expired),
        .init(status: .reserved, now: after, command: .expireIfDue, action: .transition(to: .expired), statusAfter: .expired),
        .init(status: .committed, now: after, command: .commit, action: .unchanged, statusAfter: .committed),
        .init(status: .committed, now: after, command: .release, action: .refuse(.committed, expiringNow: false), statusAfter: .committed),
        .init(status: .committed, now: after, command: .expireIfDue, action: .unchanged, statusAfter: .committed),
        .init(status: .released, now: before, command: .commit, action: .refuse(.released, expiringNow: false), statusAfter: .released),
        .init(status: .released, now: before, command: .release, action: .unchanged, statusAfter: .released),
        .init(status: .released, now: after, command: .expireIfDue, action: .unchanged, statusAfter: .released),
        .init(status: .expired, now: after, command: .commit, action: .refuse(.expired, expiringNow: false), statusAfter: .expired),
        .init(status: .expired, now: after, command: .release, action: .refuse(.expired, expiringNow: false), statusAfter: .expired),
        .init(status: .expired, now: after, command: .expireIfDue, action: .unchanged, statusAfter: .expired),
    ]

    @Test(arguments: table)
    func everyStatusAndCommand(_ row: Case) {
        var lifecycle = ReservationLifecycle(status: row.status, expiresAtMilliseconds: Self.expiresAt)
        #expect(lifecycle.handle(row.command, nowMilliseconds: row.now) == row.action)
        #expect(lifecycle.status == row.statusAfter)
    }

    @Test func theTableCoversEveryStatusAndCommand() {
        for status in ReservationStatus.allCases {
            for command in ReservationCommand.allCases {
                #expect(Self.table.contains { $0.status == status && $0.command == command }, "\(status) \(command)")
            }
        }
    }

    /// I7: once final, no sequence of commands at any time moves a reservation again.
    @Test(arguments: [ReservationStatus.committed, .released, .expired])
    func aFinalStatusNeverChanges(_ status: ReservationStatus) {
        var lifecycle = ReservationLifecycle(status: status, expiresAtMilliseconds: Self.expiresAt)
        for now in [Int64(0), Self.before, Self.after, 1_000_000] {
            for command in ReservationCommand.allCases {
                let action = lifecycle.handle(command, nowMilliseconds: now)
                if case .transition = action { Issue.record("\(status) moved on \(command) at \(now)") }
                #expect(lifecycle.status == status)
            }
        }
    }

    @Test func commitAfterExpiryIsRefusedEvenOnRepeat() {
        var lifecycle = ReservationLifecycle(status: .reserved, expiresAtMilliseconds: Self.expiresAt)
        #expect(lifecycle.handle(.commit, nowMilliseconds: Self.after) == .refuse(.expired, expiringNow: true))
        #expect(lifecycle.handle(.commit, nowMilliseconds: Self.after) == .refuse(.expired, expiringNow: false))
        #expect(lifecycle.status == .expired)
    }
}
