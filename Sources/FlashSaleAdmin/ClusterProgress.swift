public import FlashSaleCore

/// What `GET /v1/cluster` says about a change in progress, as an operator's tool reads it.
extension ClusterStatus {
    public func node(_ id: String) -> Node? { self.nodes.first { $0.id == id } }

    /// True when no change is in progress and node `id` is in `state` (`active` after a join,
    /// `down` after a leave).
    public func isSettled(node id: String, in state: String) -> Bool {
        !self.rebalancing && self.node(id)?.state == state
    }

    /// SKUs to move, moved and failed attempts, summed over the nodes that reported this epoch.
    public var progress: (toMove: Int64, moved: Int64, failedAttempts: Int64) {
        self.nodes.compactMap(\.handoff).reduce((0, 0, 0)) { sum, handoff in
            (sum.0 + handoff.toMove, sum.1 + handoff.moved, sum.2 + handoff.failedAttempts)
        }
    }

    /// One line for a progress display.
    public var progressLine: String {
        let (toMove, moved, failed) = self.progress
        let states = self.nodes.map { node in
            "\(node.id) \(node.state)" + (node.adoptedBy.map { " (served by \($0))" } ?? "")
        }.joined(separator: ", ")
        let change = self.rebalancing ? "rebalancing" : "settled"
        return "epoch \(self.epoch), \(change): \(moved) of \(toMove) SKUs moved, \(failed) failed attempts (retried); \(states)"
    }
}

extension ClusterStatus {
    /// `flashsale admin status`: the nodes as a table, then the syncer and any change in progress.
    public var statusReport: String {
        var table = TextTable(["node", "state", "SKUs", "ring share", "moves", "client URL"])
        for node in self.nodes {
            let moves = node.handoff.map { $0.finished ? "done (\($0.moved))" : "\($0.moved) of \($0.toMove)" + ($0.failedAttempts > 0 ? ", \($0.failedAttempts) failed" : "") } ?? "-"
            let state = node.adoptedBy.map { "\(node.state) (adopted by \($0))" } ?? node.state
            let share = Double(node.slots) / 40.96
            table.add([node.id, state, String(node.skuCount), "\((share * 10).rounded() / 10) %", moves, node.clientUrl])
        }
        let syncer: String
        if let leader = self.syncer.leader {
            let lag = self.syncer.lagSeconds.map { "\(($0 * 10).rounded() / 10) s" } ?? "unknown"
            syncer = "syncer leader \(leader), fencing epoch \(self.syncer.fencingEpoch), lag \(lag)"
        } else {
            syncer = "no syncer leader: the record in PostgreSQL is not being written"
        }
        return [table.render(), syncer, self.progressLine].joined(separator: "\n")
    }
}
