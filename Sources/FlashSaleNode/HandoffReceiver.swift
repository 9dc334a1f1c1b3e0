import FlashSaleCluster
import FlashSaleCore
import FlashSalePeer
import FlashSaleRedis
import Synchronization

/// The new owner's side of a handoff: gathers a SKU's snapshot chunks and imports the whole
/// snapshot into the shard of the SKU's owner under this node's membership, when this node serves
/// it: its own, or one it adopted from a gone owner.
final class HandoffReceiver: Sendable {
    private let nodeID: String
    private let shards: AdoptedShards
    private let membership: @Sendable () -> Membership?
    private let assembly = Mutex(HandoffAssembly())
    private let clock: any ServiceClock

    init(nodeID: String, shards: AdoptedShards, membership: @escaping @Sendable () -> Membership?, clock: any ServiceClock) {
        self.clock = clock
        self.nodeID = nodeID
        self.shards = shards
        self.membership = membership
    }

    /// The caller has learnt the chunk's epoch first (a receiver behind it could refuse a SKU it owns).
    func receive(_ chunk: HandoffChunk) async -> HandoffAnswer.Outcome {
        let sku = chunk.state.sku
        guard let membership = self.membership(), let owner = membership.owner(of: sku), let store = self.shards.served(owner, in: membership)
        else {
            let epoch = self.membership()?.epoch ?? 0
            return .refused("\(self.nodeID) does not serve the owner of \(sku) under membership epoch \(epoch)")
        }
        switch self.assembly.withLock({ $0.receive(chunk, now: self.clock.now) }) {
        case .incomplete(let next):
            return .continueFrom(next: next)
        case .refused(let why):
            return .refused(why)
        case .complete(let snapshot):
            do {
                // Imported now or by an earlier attempt: either way the SKU is here.
                _ = try await store.importHandoff(snapshot)
                return .imported
            } catch {
                return .refused("the import failed: \(error)")
            }
        }
    }
}
