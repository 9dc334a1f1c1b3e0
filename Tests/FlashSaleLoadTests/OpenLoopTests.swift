import FlashSaleLoad
import FlashSaleTesting
import HTTPTypes
import Histogram
import Testing

@Suite struct OpenLoopScheduleTests {
    @Test func requestsAreDueEveryOneOverTheRateWhateverHappened() {
        let schedule = OpenLoopSchedule(ratePerSecond: 1000, duration: .seconds(2))
        #expect(schedule.count == 2000)
        #expect(schedule.offset(of: 0) == .zero)
        #expect(schedule.offset(of: 1) == .milliseconds(1))
        #expect(schedule.offset(of: 1999) == .milliseconds(1999))
        #expect(schedule.dueCount(after: .zero) == 1)
        #expect(schedule.dueCount(after: .microseconds(999)) == 1)
        #expect(schedule.dueCount(after: .milliseconds(1)) == 2)
        #expect(schedule.dueCount(after: .milliseconds(500)) == 501)
        #expect(schedule.dueCount(after: .seconds(60)) == 2000, "never more than the run holds")
        #expect(schedule.dueCount(after: .milliseconds(-1)) == 0)
    }

    @Test func aFractionalRateKeepsItsPace() {
        let schedule = OpenLoopSchedule(ratePerSecond: 2.5, duration: .seconds(4))
        #expect(schedule.count == 10)
        #expect(schedule.offset(of: 5) == .seconds(2))
        #expect(schedule.dueCount(after: .milliseconds(1999)) == 5)
        #expect(schedule.dueCount(after: .seconds(2)) == 6)
    }
}

/// The open-loop load against a real node (the test kit's cluster of one, with its own Redis):
/// every scheduled reservation is sent and answered, and each one is a new buyer.
@Suite struct OpenLoopLoadTests {
    @Test func everyScheduledReservationIsAnsweredAsANewBuyer() async throws {
        try await TestCluster.with(nodes: 1, peers: false) { cluster in
            let port = cluster.ports[0]
            _ = try await HTTP.call(port, .put, "/v1/skus/paced", body: #"{"stock": 250, "perUserLimit": 1}"#)
            let report = try await OpenLoopLoad(
                settings: .init(
                    host: "127.0.0.1", port: port, paths: ["/v1/skus/paced/reservations"], ratePerSecond: 200,
                    duration: .seconds(2), connectionsMax: 16
                )
            ).run()
            #expect(report.scheduled == 400)
            #expect(report.notSent == 0 && report.unanswered == 0 && report.failed == 0)
            #expect(report.statuses == [201: 250, 409: 150], "stock 250: the rest sold out, no buyer repeated")
            #expect(report.latency.totalCount == 400)
            #expect(report.connectionsOpened <= 16)
            let sku = try await HTTP.call(port, .get, "/v1/skus/paced")
            #expect(sku.body.contains(#""reserved":250"#))
        }
    }
}
