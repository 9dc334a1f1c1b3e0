import FlashSaleSync
import Logging

extension RecordAudit {
    /// The audit's verdict once the record has caught up with every shard, or its last one after
    /// `seconds` (still `.behind`).
    static func caughtUp(postgresURL: String, seconds: Int = 30) async throws -> Outcome {
        var logger = Logger(label: "audit")
        logger.logLevel = .critical
        let audit = RecordAudit(postgresURL: postgresURL, logger: logger)
        var outcome = try await audit.run()
        for _ in 0..<(seconds * 4) {
            guard case .behind = outcome else { break }
            try await Task.sleep(for: .milliseconds(250))
            outcome = try await audit.run()
        }
        return outcome
    }
}
