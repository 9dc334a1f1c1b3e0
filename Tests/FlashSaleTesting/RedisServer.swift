public import Foundation

/// A real redis-server on a free 127.0.0.1 port with its own data folder, appendonly with
/// appendfsync always, as cluster/up runs it. Tests kill and restart it by PID.
public final class RedisServer: @unchecked Sendable {
    public let port: Int
    public let directory: URL
    private let executable: URL
    private var process: Process?

    public var url: String { "redis://127.0.0.1:\(self.port)" }

    public init() throws {
        self.executable = try ServerProcess.executable("redis-server")
        self.port = ServerProcess.freePort()
        self.directory = try ServerProcess.temporaryDirectory("flashsale-redis")
        try self.start()
    }

    deinit {
        self.kill()
        try? FileManager.default.removeItem(at: self.directory)
    }

    public func start() throws {
        precondition(self.process == nil, "redis-server is already running")
        let process = Process()
        process.executableURL = self.executable
        process.arguments = [
            "--bind", "127.0.0.1", "--port", String(self.port), "--dir", self.directory.path,
            "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no",
            "--logfile", self.directory.appendingPathComponent("redis.log").path,
        ]
        try process.run()
        self.process = process
        try ServerProcess.waitUntilListening(port: self.port, seconds: 10, what: "redis-server")
        // Another process may have taken the port between freePort() and the bind: then ours exited.
        guard process.isRunning else { throw TestServerError.didNotStart("redis-server (port \(self.port) taken)") }
    }

    /// SIGKILL: no shutdown, no final fsync beyond what appendfsync always already did.
    /// (It is also the only reliable stop: a child spawned from a test thread may inherit a mask that blocks SIGTERM.)
    public func kill() {
        guard let process = self.process else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }
}
