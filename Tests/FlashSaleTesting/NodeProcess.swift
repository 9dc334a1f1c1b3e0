public import Foundation

/// A real `flashsale node` process, built next to the test bundle, stopped by its PID.
public final class NodeProcess: @unchecked Sendable {
    public let id: String
    public let httpPort: Int
    /// Set when the node runs the peer protocol (it was given a TLS folder).
    public let peerPort: Int?
    private let arguments: [String]
    private let environment: [String: String]
    /// `KEY=VALUE` for env(1), which starts the node with them. Through a second env: a Swift
    /// program that is the first image libfaketime is preloaded into sees no arguments (found by
    /// trial: one exec'd from an image already preloaded sees them all). Each env execs the next,
    /// so the PID stays the node's.
    private let launcherArguments: [String]
    /// The node's standard error, appended across restarts. (Inherited, it would keep the test
    /// runner's output open for as long as a leftover node runs.)
    public let logFile: URL
    private var process: Process?

    /// With `tlsDirectory` (cluster/lib.sh's layout: ca.pem, ID.pem, ID-key.pem) the node also
    /// listens for peers on a free port.
    /// `environment` adds to the test runner's (a skewed clock under libfaketime, say).
    public init(
        id: String,
        redisURL: String,
        postgresURL: String,
        settings: String,
        tlsDirectory: URL? = nil,
        logLevel: String = "warning",
        environment extraEnvironment: [String: String] = [:]
    ) throws {
        self.id = id
        self.httpPort = ServerProcess.freePort()
        let peerPort = tlsDirectory.map { _ in ServerProcess.freePort() }
        self.peerPort = peerPort
        let directory = try ServerProcess.temporaryDirectory("flashsale-node-\(id)")
        let config = directory.appendingPathComponent("node.json")
        self.logFile = directory.appendingPathComponent("node.log")
        _ = FileManager.default.createFile(atPath: self.logFile.path, contents: nil)
        try settings.write(to: config, atomically: true, encoding: .utf8)
        self.arguments = [
            "node", "--id", id, "--http-port", String(self.httpPort), "--redis-url", redisURL,
            "--postgres-url", postgresURL, "--config", config.path, "--log-level", logLevel,
        ] + (tlsDirectory.map { ["--tls-directory", $0.path, "--peer-address", "127.0.0.1:\(peerPort!)"] } ?? [])
        var environment = ProcessInfo.processInfo.environment
        environment["FLASHSALE_ADMIN_TOKEN"] = "test"
        self.environment = environment
        self.launcherArguments = extraEnvironment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        try self.start()
    }

    deinit {
        self.signal(SIGKILL)
    }

    /// The `flashsale` executable beside the test bundle (the test target depends on it).
    static func executable() throws -> URL {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for folder in [bundle, bundle.deletingLastPathComponent()] {
            let candidate = folder.appendingPathComponent("flashsale")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw TestServerError.missingExecutable("flashsale (build it with swift build)")
    }

    public func start() throws {
        precondition(self.process == nil, "node \(self.id) is already running")
        let process = Process()
        if self.launcherArguments.isEmpty {
            process.executableURL = try Self.executable()
            process.arguments = self.arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = self.launcherArguments + ["/usr/bin/env", try Self.executable().path] + self.arguments
        }
        process.environment = self.environment
        process.standardOutput = FileHandle.nullDevice
        let log = try FileHandle(forWritingTo: self.logFile)
        log.seekToEndOfFile()
        process.standardError = log
        try process.run()
        try log.close()
        self.process = process
        do {
            try ServerProcess.waitUntilListening(port: self.httpPort, seconds: 30, what: "flashsale node \(self.id)")
        } catch {
            guard !process.isRunning else { throw error }
            throw TestServerError.didNotStart("flashsale node \(self.id) exited with \(process.terminationStatus) (its log: \(self.logFile.path))")
        }
    }

    /// Sends a signal by PID: SIGKILL (and waits for the exit), SIGSTOP, SIGCONT.
    public func signal(_ signal: Int32) {
        guard let process = self.process else { return }
        Foundation.kill(process.processIdentifier, signal)
        if signal == SIGKILL {
            process.waitUntilExit()
            self.process = nil
        }
    }
}
