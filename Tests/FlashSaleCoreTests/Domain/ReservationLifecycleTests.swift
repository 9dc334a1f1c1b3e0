import FlashSaleCore
import Testing

@Suite struct ReservationLifecycleTests {
    static let expiresAt: Int64 = 10_000
    static let before: Int64 = 9_999
    static let after: Int64 = 10_000  // expiry is inclusive: due at the instant itself

    struct Case: CustomTestStringConvertible, Sendable {
        var status: ReservationStatus
        var prepared = false
        var now: Int64
        var command: ReservationCommand
        var action: ReservationAction
        var statusAfter: ReservationStatus
        var preparedAfter = false
        var testDescription: String { "\(status)\(prepared ? " (prepared)" : "") at \(now) + \(command)" }
    }

    static let table: [Case] = [
        .init(status: .reserved, now: before, command: .commit, action: .transition(to: .committed), statusAfter: .committed),
        .init(status: .reserved, now: before, command: .release, action: .transition(to: .released), statusAfter: .released),
        .init(status: .reserved, now: before, command: .expireIfDue, action: .unchanged, statusAfter: .reserved),
        .init(status: .reserved, now: after, command: .commit, action: .refuse(.expired, expiringNow: true), statusAfter: .expired),
        .init(status: .reserved, now: after, command: .release, action: .refuse(.expired, expiringNow: true), statusAfter: .expired),
        .init(status: .reserved, now: after, command: .expireIfDue, action: .transition(to: .expired), statusAfter: .expired),
        .init(status: .reserved, now: before, command: .prepareCommit, action: .prepareCommit, statusAfter: .reserved, preparedAfter: true),
        .init(status: .reserved, now: after, command: .prepareCommit, action: .refuse(.expired, expiringNow: true), statusAfter: .expired),
        .init(status: .reserved, now: before, command: .cartRelease, action: .transition(to: .released), statusAfter: .released),
        .init(status: .reserved, now: after, command: .cartRelease, action: .refuse(.expired, expiringNow: true), statusAfter: .expired),
        // Prepared: never due, and only a commit or an abort resolves it.
        .init(status: .reserved, prepared: true, now: after, command: .commit, action: .transition(to: .committed), statusAfter: .committed),
        .init(
            status: .reserved, prepared: true, now: before, command: .release, action: .refuse(.committed, expiringNow: false), statusAfter: .reserved,
            preparedAfter: true
        ),
        .init(status: .reserved, prepared: true, now: after, command: .expireIfDue, action: .unchanged, statusAfter: .reserved, preparedAfter: true),
        .init(status: .reserved, prepared: true, now: after, command: .prepareCommit, action: .unchanged, statusAfter: .reserved, preparedAfter: true),
        .init(status: .reserved, prepared: true, now: after, command: .cartRelease, action: .transition(to: .released), statusAfter: .released),
        .init(status: .committed, now: after, command: .commit, action: .unchanged, statusAfter: .committed),
        .init(status: .committed, now: after, command: .release, action: .refuse(.committed, expiringNow: false), statusAfter: .committed),
        .init(status: .committed, now: after, command: .expireIfDue, action: .unchanged, statusAfter: .committed),
        .init(status: .committed, now: after, command: .prepareCommit, action: .unchanged, statusAfter: .committed),
        .init(status: .committed, now: before, command: .cartRelease, action: .refuse(.committed, expiringNow: false), statusAfter: .committed),
        .init(status: .released, now: before, command: .commit, action: .refuse(.released, expiringNow: false), statusAfter: .released),
        .init(status: .released, now: before, command: .release, action: .unchanged, statusAfter: .released),
        .init(status: .released, now: after, command: .expireIfDue, action: .unchanged, statusAfter: .released),
        .init(status: .released, now: before, command: .prepareCommit, action: .refuse(.released, expiringNow: false), statusAfter: .released),
        .init(status: .released, now: before, command: .cartRelease, action: .unchanged, statusAfter: .released),
        .init(status: .expired, now: after, command: .commit, action: .refuse(.expired, expiringNow: false), statusAfter: .expired),
        .init(status: .expired, now: after, command: .release, action: .refuse(.expired, expiringNow: false), statusAfter: .expired),
        .init(status: .expired, now: after, command: .expireIfDue, action: .unchanged, statusAfter: .expired),
        .init(status: .expired, now: after, command: .prepareCommit, action: .refuse(.expired, expiringNow: false), statusAfter: .expired),
        .init(status: .expired, now: after, command: .cartRelease, action: .refuse(.expired, expiringNow: false), statusAfter: .expired),
    ]

    @Test(arguments: table)
    func everyStatusAndCommand(_ row: Case) {
        var lifecycle = ReservationLifecycle(status: row.status, expiresAtMilliseconds: Self.expiresAt, isCommitPrepared: row.prepared)
        #expect(lifecycle.handle(row.command, nowMilliseconds: row.now) == row.action)
        #expect(lifecycle.status == row.statusAfter)
        #expect(lifecycle.isCommitPrepared == row.preparedAfter)
    }

    @Test func theTableCoversEveryStatusAndCommand() {
        for status in ReservationStatus.allCases {
            for command in ReservationCommand.allCases {
                #expect(Self.table.contains { $0.status == status && !$0.prepared && $0.command == command }, "\(status) \(command)")
            }
        }
        for command in ReservationCommand.allCases {
            #expect(Self.table.contains { $0.prepared && $0.command == command }, "prepared \(command)")
        }
    }

    /// A cart's commit: once prepared, a reservation outlives its expiry and a buyer's release,
    /// and its commit succeeds however late it comes.
    @Test func aPreparedReservationWaitsForItsCommit() {
        var lifecycle = ReservationLifecycle(status: .reserved, expiresAtMilliseconds: Self.expiresAt)
        #expect(lifecycle.handle(.prepareCommit, nowMilliseconds: Self.before) == .prepareCommit)
        #expect(!lifecycle.isDue(nowMilliseconds: 1_000_000))
        #expect(lifecycle.handle(.release, nowMilliseconds: Self.after) == .refuse(.committed, expiringNow: false))
        #expect(lifecycle.handle(.expireIfDue, nowMilliseconds: 1_000_000) == .unchanged)
        #expect(lifecycle.handle(.commit, nowMilliseconds: 1_000_000) == .transition(to: .committed))
        #expect(lifecycle.status == .committed && !lifecycle.isCommitPrepared)
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
