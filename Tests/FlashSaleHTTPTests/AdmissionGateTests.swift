import FlashSaleCore
import FlashSaleHTTP
import FlashSaleTesting
import Testing

/// The admission gate's shell: one place, one waiting, a 50 ms queue deadline on a hand-moved clock.
@Suite struct AdmissionGateTests {
    func waitUntil(_ condition: () -> Bool) async throws {
        for _ in 0..<5_000 where !condition() { try await Task.sleep(for: .milliseconds(1)) }
        #expect(condition())
    }

    @Test func aWaiterStartsWhenAPlaceFreesAndIsShedAtItsDeadlineWhenNoneDoes() async throws {
        let clock = ManualClock()
        let gate = AdmissionGate(settings: .init(inFlightMax: 1, waitingMax: 1, queueDeadline: .milliseconds(50)), clock: clock)
        let runner = Task { try await gate.run() }
        defer { runner.cancel() }

        // The first holds the place until told to finish; the second waits for it and gets it.
        let (finish, finishing) = AsyncStream<Void>.makeStream()
        let holder = Task { try await gate.withAdmission { for await _ in finish { break }; return "held" } }
        try await self.waitUntil { gate.load.inFlight == 1 }
        let second = Task { try await gate.withAdmission { "second" } }
        try await self.waitUntil { gate.load.waiting == 1 }
        // A third finds the queue full: shed at once.
        await #expect(throws: SaleError.self) { try await gate.withAdmission { "third" } }
        finishing.yield()
        #expect(try await holder.value == "held")
        #expect(try await second.value == "second")
        #expect(gate.load == (0, 0))

        // Now the place is held and nothing finishes: the waiter is shed once its 50 ms are up.
        let (stall, stalling) = AsyncStream<Void>.makeStream()
        let stalled = Task { try await gate.withAdmission { for await _ in stall { break }; return "stalled" } }
        try await self.waitUntil { gate.load.inFlight == 1 }
        let late = Task { try await gate.withAdmission { "late" } }
        try await self.waitUntil { gate.load.waiting == 1 }
        clock.advance(by: .milliseconds(49))
        #expect(gate.load.waiting == 1)
        clock.advance(by: .milliseconds(1))
        await #expect(throws: SaleError.unavailable("this node is at capacity; retry")) { try await late.value }
        #expect(gate.load == (1, 0))
        stalling.yield()
        #expect(try await stalled.value == "stalled")
    }
}
