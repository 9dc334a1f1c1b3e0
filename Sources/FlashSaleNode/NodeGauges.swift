import FlashSaleCluster
import FlashSaleCore
import FlashSaleRedis
import Logging
import Metrics
import ServiceLifecycle

/// Gauges read once a second for the dashboards and alerts: this shard's outbox against its
/// limit, its archived SKUs, and the membership as this node sees it (nodes by state, members
/// past their lease).
struct NodeGauges: Service {
    let store: SKUStore
    let outboxLimit: Int
    let membership: @Sendable () -> Membership?
    let clock: any ServiceClock

    private let outboxEntries = Gauge(label: "flashsale_outbox_entries")
    private let outboxLimitGauge = Gauge(label: "flashsale_outbox_limit")
    private let archivedSKUs = Gauge(label: "flashsale_archived_skus")
    private let epoch = Gauge(label: "flashsale_cluster_epoch")
    private let pastLease = Gauge(label: "flashsale_cluster_nodes_past_lease")
    private let byState = Dictionary(
        uniqueKeysWithValues: Membership.NodeState.allCases.map { ($0, Gauge(label: "flashsale_cluster_nodes", dimensions: [("state", $0.rawValue)])) }
    )

    init(store: SKUStore, outboxLimit: Int, membership: @escaping @Sendable () -> Membership?, clock: any ServiceClock) {
        self.clock = clock
        self.store = store
        self.outboxLimit = outboxLimit
        self.membership = membership
    }

    func run() async throws {
        self.outboxLimitGauge.record(self.outboxLimit)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            // An unreachable shard leaves the last reading; the request errors show the outage.
            if let length = try? await self.store.outboxLength() { self.outboxEntries.record(length) }
            if let archived = try? await self.store.archivedCount() { self.archivedSKUs.record(archived) }
            if let membership = self.membership() {
                self.epoch.record(membership.epoch)
                for state in Membership.NodeState.allCases {
                    self.byState[state]?.record(membership.nodes.count { $0.state == state })
                }
                self.pastLease.record(membership.nodes.count { $0.state != .down && !$0.isLive })
            }
            try? await cancelWhenGracefulShutdown { try await self.clock.sleep(for: .seconds(1)) }
        }
    }
}
