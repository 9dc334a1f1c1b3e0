public import Foundation

/// A real redis-server on a free 127.0.0.1 port with its own data folder, appendonly with
/// appendfsync always, as cluster/up runs it. Tests kill and restart it by PID.
public final class RedisServer: @unchecked Sendable {
    public private(set) var port: Int
    public let directory: URL
    /// The port of the primary this server replicates, when it is a replica.
    public private(set) var replicaOf: Int?
    /// Writes are refused (NOREPLICAS) unless this many replicas are connected and at most 2 s
    /// behind, as cluster/up runs a shard with a replica.
    public let minReplicasToWrite: Int
    private let executable: URL
    private var process: Process?

    public var url: String { "redis://127.0.0.1:\(self.port)" }

    public init(replicaOf primaryPort: Int? = nil, minReplicasToWrite: Int = 0) throws {
        self.replicaOf = primaryPort
        self.minReplicasToWrite = minReplicasToWrite
        self.executable = try ServerProcess.executable("redis-server")
        self.port = ServerProcess.freePort()
        self.directory = try ServerProcess.temporaryDirectory("flashsale-redis")
        // Another process may take the port between freePort() and the bind (the suites start
        // servers side by side): then the server starts again on another port.
        for attempt in 1...3 {
            do {
                try self.start()
                return
            } catch TestServerError.didNotStart where attempt < 3 {
                self.port = ServerProcess.freePort()
            }
        }
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
            // A replica that connects is sent the data at once, not after Redis's default 5 s.
            "--repl-diskless-sync-delay", "0",
            "--logfile", self.directory.appendingPathComponent("redis.log").path,
        ] + (self.replicaOf.map { ["--replicaof", "127.0.0.1", String($0)] } ?? [])
            + (self.minReplicasToWrite > 0 ? ["--min-replicas-to-write", String(self.minReplicasToWrite), "--min-replicas-max-lag", "2"] : [])
        try process.run()
        do {
            try ServerProcess.waitUntilListening(port: self.port, seconds: 10, what: "redis-server")
            // Another process may have taken the port between freePort() and the bind: then ours exited.
            guard process.isRunning else { throw TestServerError.didNotStart("redis-server (port \(self.port) taken)") }
        } catch {
            if process.isRunning {
                Foundation.kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            throw error
        }
        self.process = process
    }

    /// Starts the server again as a replica of the server on `port`, as a lost host is replaced
    /// by hand; nil: on its own, as a primary, for the node to attach (only once its old replica
    /// was promoted: a replica would copy the empty primary).
    public func restart(asReplicaOf port: Int?) throws {
        self.replicaOf = port
        try self.start()
    }

    /// Deletes the server's data, as a lost disk would (the server must be stopped).
    public func wipe() throws {
        precondition(self.process == nil, "wipe a stopped server")
        for item in try FileManager.default.contentsOfDirectory(at: self.directory, includingPropertiesForKeys: nil) {
            try FileManager.default.removeItem(at: item)
        }
    }

    /// SIGSTOP or SIGCONT: a server that stops answering without closing its connections.
    public func signal(_ signal: Int32) {
        guard let process = self.process else { return }
        Foundation.kill(process.processIdentifier, signal)
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
