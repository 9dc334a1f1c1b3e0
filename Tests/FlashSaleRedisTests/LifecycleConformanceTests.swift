import FlashSaleCore
import FlashSaleRedis
import FlashSaleTesting
import Testing

/// The Lua scripts carry out ReservationLifecycle's table atomically; this drives both through every
/// status, due or not, and every command, and compares what they do.
@Suite struct LifecycleConformanceTests {
    struct Fixture {
        var status: ReservationStatus
        /// Reserved and prepared for a cart's commit.
        var prepared = false
        var due: Bool
        var command: ReservationCommand
        var sku: String
        var id: String = ""
    }

    @Test func scriptsFollowTheStateMachine() async throws {
        let shard = try await TestShard.start(scriptTime: .supplied)
        let store = shard.store
        var fixtures: [Fixture] = []
        for status in ReservationStatus.allCases {
            for due in [false, true] where status != .expired || due {
                for command in ReservationCommand.allCases {
                    fixtures.append(Fixture(status: status, due: due, command: command, sku: "s\(fixtures.count)"))
                    if status == .reserved {
                        fixtures.append(Fixture(status: status, prepared: true, due: due, command: command, sku: "s\(fixtures.count)"))
                    }
                }
            }
        }
        for index in fixtures.indices {
            let fixture = fixtures[index]
            _ = try await store.defineSKU(fixture.sku, settings: SKUSettings(stock: 1, reservationTtlSeconds: fixture.due ? 1 : 600))
            let id = try await store.reserve(sku: fixture.sku, user: "u", quantity: 1, requestId: "q").reservation.id
            fixtures[index].id = id
            switch fixture.status {
            case .committed: _ = try await store.commit(sku: fixture.sku, id: id)
            case .released: _ = try await store.release(sku: fixture.sku, id: id)
            case .reserved where fixture.prepared: _ = try await store.prepareCommit(sku: fixture.sku, id: id)
            case .reserved, .expired: break
            }
        }
        try await shard.advanceScriptClock(by: .seconds(1))
        for fixture in fixtures where fixture.status == .expired {
            #expect(try await store.reservation(sku: fixture.sku, id: fixture.id).status == .expired)
        }

        for fixture in fixtures {
            let name = "\(fixture.status)\(fixture.prepared ? " prepared" : "") due=\(fixture.due) \(fixture.command)"
            var lifecycle = ReservationLifecycle(status: fixture.status, expiresAtMilliseconds: 1000, isCommitPrepared: fixture.prepared)
            let expected = lifecycle.handle(fixture.command, nowMilliseconds: fixture.due ? 1000 : 999)
            let observed = try await Self.observe(fixture, store)
            #expect(observed == expected, "\(name)")
            let after = try await store.reservation(sku: fixture.sku, id: fixture.id).status
            #expect(after == lifecycle.status, "\(name)")
            if lifecycle.isCommitPrepared {
                // Still prepared on the shard: a buyer's release is refused, past its expiry.
                await #expect(throws: SaleError.refused(.committed), "\(name)") { try await store.release(sku: fixture.sku, id: fixture.id) }
            }
            // Stock is held exactly while the reservation is reserved or committed.
            let state = try await store.skuState(fixture.sku)
            #expect(state.available == (after == .reserved || after == .committed ? 0 : 1))
        }
        await shard.close()
    }

    static func observe(_ fixture: Fixture, _ store: SKUStore) async throws -> ReservationAction {
        do {
            let reservation: Reservation
            switch fixture.command {
            case .commit: reservation = try await store.commit(sku: fixture.sku, id: fixture.id)
            case .release: reservation = try await store.release(sku: fixture.sku, id: fixture.id)
            case .expireIfDue: reservation = try await store.reservation(sku: fixture.sku, id: fixture.id)
            case .prepareCommit: reservation = try await store.prepareCommit(sku: fixture.sku, id: fixture.id)
            case .cartRelease: reservation = try await store.cartRelease(sku: fixture.sku, id: fixture.id)
            }
            if fixture.command == .prepareCommit, !fixture.prepared, reservation.status == .reserved { return .prepareCommit }
            return reservation.status == fixture.status ? .unchanged : .transition(to: reservation.status)
        } catch SaleError.refused(.expired) {
            // A reserved reservation refused for its expiry expired with this call.
            return .refuse(.expired, expiringNow: fixture.status == .reserved)
        } catch SaleError.refused(let refusal) {
            return .refuse(refusal, expiringNow: false)
        }
    }
}
