import Synchronization

/// A flag one task sets and others poll, for load loops that run until a test says stop.
public final class StopFlag: Sendable {
    private let state = Atomic(false)

    public init() {}

    public var isSet: Bool { self.state.load(ordering: .relaxed) }

    public func set() { self.state.store(true, ordering: .relaxed) }
}
