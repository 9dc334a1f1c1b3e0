import Synchronization

/// Wakes a service's runner early: it sleeps until its machine's next deadline, but must act at
/// once when something happens (a peer tells of a newer epoch). A ring while nobody waits is kept
/// for the next wait, so none is lost; rings before a wait count as one. The runner asks its
/// machine what to do after every wait, so a ring is only ever a prompt to look, never an event.
public final class WakeSignal: Sendable {
    private struct State {
        var rung = false
        var nextID: UInt64 = 0
        var waiter: (id: UInt64, continuation: CheckedContinuation<Void, Never>)?
    }

    private let state = Mutex(State())

    public init() {}

    public func ring() {
        let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.rung = true
                return nil
            }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume()
    }

    /// Returns once rung (at once if rung since the last wait), once `clock` reaches `deadline`,
    /// or when the task is cancelled.
    public func wait(until deadline: ContinuousClock.Instant, on clock: any ServiceClock) async {
        let rung = self.state.withLock { state in
            defer { state.rung = false }
            return state.rung
        }
        guard !rung else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await clock.sleep(until: deadline) }
            group.addTask { await self.waitForRing() }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForRing() async {
        let id = self.state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = self.state.withLock { state -> Bool in
                    if state.rung {
                        state.rung = false
                        return true
                    }
                    if Task.isCancelled { return true }
                    state.waiter = (id, continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard let waiter = state.waiter, waiter.id == id else { return nil }
                state.waiter = nil
                return waiter.continuation
            }
            waiter?.resume()
        }
    }
}
