import BlockingIO
import Foundation

/// One PostgreSQL connection owned by its own thread: every libpq call blocks, so none runs on an
/// event loop or the cooperative pool. Callers pass a closure that runs on that thread with the
/// connection; a broken connection is dropped and the next call connects again.
public final class PostgresClient: Sendable {
    private struct Job: Sendable {
        let body: @Sendable (PostgresConnection) throws -> Void
        let fail: @Sendable (any Error) -> Void
    }

    public let url: String
    private let thread: BatchingThread<Job>

    public init(url: String, queueCapacity: Int = 64, sessionSettings: [String] = []) {
        self.url = url
        let holder = ConnectionHolder(url: url, sessionSettings: sessionSettings)
        self.thread = BatchingThread(name: "postgres", queueCapacity: queueCapacity, batchSizeMax: 1) { jobs in
            for job in jobs { holder.run(job.body, fail: job.fail) }
        }
        self.thread.start()
    }

    /// Runs `body` on the connection's thread. Errors thrown by libpq or by `body` come back here.
    public func withConnection<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws -> Result
    ) async throws -> Result {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Result, any Error>) in
            let job = Job(
                body: { connection in continuation.resume(returning: try body(connection)) },
                fail: { error in continuation.resume(throwing: error) }
            )
            do {
                try self.thread.submit(job)
            } catch {
                continuation.resume(throwing: PostgresError.connectionFailed("the PostgreSQL queue is full or stopped"))
            }
        }
    }

    public func stop() async {
        await self.thread.stop()
    }

    /// Touched only on the client's thread.
    private final class ConnectionHolder: @unchecked Sendable {
        let url: String
        let sessionSettings: [String]
        var connection: PostgresConnection?

        init(url: String, sessionSettings: [String]) {
            self.url = url
            self.sessionSettings = sessionSettings
        }

        func run(_ body: (PostgresConnection) throws -> Void, fail: (any Error) -> Void) {
            do {
                let connection = try self.connection ?? self.connect()
                do {
                    try body(connection)
                } catch {
                    // After a failed statement inside a transaction the session must be reset;
                    // a dead connection must be replaced. Both are cheapest as a fresh connection.
                    if !connection.isHealthy || connection.isInTransaction { self.connection = nil }
                    fail(error)
                }
            } catch {
                fail(error)
            }
        }

        private func connect() throws -> PostgresConnection {
            let connection = try PostgresConnection(url: self.url)
            for setting in self.sessionSettings { try connection.execute(setting) }
            self.connection = connection
            return connection
        }
    }
}
