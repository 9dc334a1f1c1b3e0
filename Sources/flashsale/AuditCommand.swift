import ArgumentParser
import FlashSaleAdmin
import FlashSaleCore
import FlashSaleSync
import Foundation
import Logging

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare every SKU's counters in the cluster with the PostgreSQL record.",
        discussion: """
            Waits until the syncer has flushed every registered shard's outbox, then lists every \
            difference. Exit status: 0 when the record agrees, 1 when it differs, 2 when the syncer \
            did not catch up in time.
            """
    )

    @Option(help: "PostgreSQL connection URL (or FLASHSALE_POSTGRES_URL).") var postgresUrl: String?
    @Option(help: "How long to wait for the syncer to catch up.") var waitSeconds: Int = 30
    @Flag(help: "Print {\"agrees\", \"differences\": [{\"sku\", \"shard\", \"cluster\", \"record\"}], \"behindShards\"}.")
    var json = false

    func run() async throws {
        guard let url = self.postgresUrl ?? ProcessInfo.processInfo.environment["FLASHSALE_POSTGRES_URL"] else {
            throw InputError("--postgres-url is required")
        }
        var logger = Logger(label: "flashsale.audit")
        logger.logLevel = .error
        let audit = RecordAudit(postgresURL: url, logger: logger)
        let deadline = ContinuousClock.now + .seconds(self.waitSeconds)
        while true {
            switch try await audit.run() {
            case .caughtUp(let differences):
                if self.json {
                    print(Self.json(agrees: differences.isEmpty, differences: differences, behind: []))
                } else if differences.isEmpty {
                    print("the record agrees with the cluster")
                } else {
                    var table = TextTable(["sku", "shard", "cluster", "record"])
                    for difference in differences { table.add([difference.sku, difference.shard ?? "none", difference.cluster, difference.record]) }
                    print("\(differences.count) difference(s) between the cluster and the record:\n\(table.render())")
                }
                if !differences.isEmpty { throw ExitCode(1) }
                return
            case .behind(let shards):
                guard ContinuousClock.now < deadline else {
                    print(self.json ? Self.json(agrees: false, differences: [], behind: shards)
                        : "the syncer has not caught up with shard(s) \(shards.joined(separator: ", "))")
                    throw ExitCode(2)
                }
                try await Task.sleep(for: .milliseconds(250))
            }
        }
    }

    static func json(agrees: Bool, differences: [RecordAudit.Difference], behind: [String]) -> String {
        JSONWriter.object {
            $0.field("agrees", agrees)
            $0.raw(
                "differences",
                JSONWriter.array(differences.map { difference in
                    JSONWriter.object {
                        $0.field("sku", difference.sku)
                        if let shard = difference.shard { $0.field("shard", shard) } else { $0.nullField("shard") }
                        $0.field("cluster", difference.cluster)
                        $0.field("record", difference.record)
                    }
                })
            )
            $0.raw("behindShards", JSONWriter.array(behind.map { shard in
                var quoted = ""
                JSONWriter.appendQuoted(shard, to: &quoted)
                return quoted
            }))
        }
    }
}
