import Foundation
import FlashSaleCore
import Testing

@testable import FlashSaleAdmin

struct ClusterProgressTests {
    static let joining = #"""
        {"epoch": 4, "rebalancing": true, "nodes": [
          {"id": "n1", "clientUrl": "http://127.0.0.1:1", "peerAddress": "127.0.0.1:2", "state": "active", "skuCount": 7,
           "slots": 2048, "handoff": {"toMove": 5, "moved": 3, "failedAttempts": 1, "finished": false}},
          {"id": "n2", "clientUrl": "http://127.0.0.1:3", "peerAddress": "127.0.0.1:4", "state": "joining", "skuCount": 3,
           "slots": 2048}],
         "placement": [{"id": "n1", "weight": 1}, {"id": "n2", "weight": 1}], "syncer": {"leader": "n1", "fencingEpoch": 2, "lagSeconds": null}}
        """#

    @Test func aChangeInProgressShowsItsProgressAndIsNotSettled() throws {
        let view = try JSONDecoder().decode(ClusterStatus.self, from: Data(Self.joining.utf8))
        #expect(view.progress == (5, 3, 1))
        #expect(!view.isSettled(node: "n2", in: "active"))
        #expect(view.progressLine == "epoch 4, rebalancing: 3 of 5 SKUs moved, 1 failed attempts (retried); n1 active, n2 joining")
    }

    @Test func aSettledClusterWithTheNodeActiveIsDone() throws {
        let settled = Self.joining.replacingOccurrences(of: "\"rebalancing\": true", with: "\"rebalancing\": false")
            .replacingOccurrences(of: "\"joining\"", with: "\"active\"")
        let view = try JSONDecoder().decode(ClusterStatus.self, from: Data(settled.utf8))
        #expect(view.isSettled(node: "n2", in: "active"))
        #expect(!view.isSettled(node: "n2", in: "down"))
        #expect(!view.isSettled(node: "n9", in: "active"))
    }

    @Test func theStatusReportIsATableWithTheSyncerAndTheChange() throws {
        let view = try JSONDecoder().decode(ClusterStatus.self, from: Data(Self.joining.utf8))
        #expect(
            view.statusReport == """
                node  state    SKUs  ring share  moves             client URL
                n1    active      7      50.0 %  3 of 5, 1 failed  http://127.0.0.1:1
                n2    joining     3      50.0 %  -                 http://127.0.0.1:3
                syncer leader n1, fencing epoch 2, lag unknown
                epoch 4, rebalancing: 3 of 5 SKUs moved, 1 failed attempts (retried); n1 active, n2 joining
                """)
    }
}
