import ArgumentParser
import FlashSaleCheck
import FlashSaleLoad
import FlashSaleSync
import Foundation
import Logging

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a load run's history against the cluster and the PostgreSQL record (I1 to I8).",
        discussion: "Waits for the syncer to catch up, reads the final state, prints every violation; exit status 1 when there is any."
    )

    @Argument(help: "The history file `flashsale load` wrote.") var history: String
    @Option(help: "A node's client URL.") var url: String = "http://127.0.0.1:8080"
    @Option(help: "File holding the admin bearer token (or FLASHSALE_ADMIN_TOKEN).") var adminTokenFile: String?
    @Option(help: "PostgreSQL connection URL (or FLASHSALE_POSTGRES_URL).") var postgresUrl: String?
    @Option(help: "How long to wait for the syncer to catch up.") var waitSeconds: Int = 60

    func run() async throws {
        guard let postgres = self.postgresUrl ?? ProcessInfo.processInfo.environment["FLASHSALE_POSTGRES_URL"] else {
            throw InputError("--postgres-url is required")
        }
        guard let url = URL(string: self.url) else { throw InputError("\(self.url) is not a URL") }
        let history = try HistoryFile.read(self.history)
        let reader = try StateReader(url: url, adminToken: try adminToken(file: self.adminTokenFile), postgresURL: postgres)
        if let wait = try await reader.expiryWait(history), wait > .zero {
            print("waiting \(wait) for the run's reservations to expire or be resolved")
            try await Task.sleep(for: wait)
        }
        var logger = Logger(label: "flashsale.check")
        logger.logLevel = .error
        let audit = RecordAudit(postgresURL: postgres, logger: logger)
        let deadline = ContinuousClock.now + .seconds(self.waitSeconds)
        while case .behind(let shards) = try await audit.run() {
            guard ContinuousClock.now < deadline else {
                print("the syncer has not caught up with shard(s) \(shards.joined(separator: ", "))")
                throw ExitCode(2)
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        let final = try await reader.read(history)
        let violations = InvariantChecker.check(history, final: final)
        print("\(history.count) requests, \(history.filter(\.isAcknowledged).count) acknowledged, \(final.reservations.count) reservations checked")
        guard !violations.isEmpty else {
            let carts = history.filter { $0.operation == .cart }.count
            print("no violation: I1, I2, I4, I5, I6, I7, conservation and sale windows hold" + (carts > 0 ? "; I8 over \(carts) cart calls" : ""))
            return
        }
        print("\(violations.count) violation(s):")
        for violation in violations { print(violation) }
        throw ExitCode(1)
    }
}
