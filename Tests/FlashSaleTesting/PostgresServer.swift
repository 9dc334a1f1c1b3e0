public import Foundation

/// A real PostgreSQL cluster in a temporary folder on a free 127.0.0.1 port, trust authentication.
/// When the tests run as root, initdb and pg_ctl run as the `postgres` user (PostgreSQL refuses root).
public final class PostgresServer: @unchecked Sendable {
    public private(set) var port: Int
    public let directory: URL
    private let binaries: URL
    private var process: Process?

    public var url: String { "postgresql://postgres@127.0.0.1:\(self.port)/postgres" }

    public init() throws {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let version = versions.sorted().last else { throw TestServerError.missingExecutable("postgresql") }
        self.binaries = URL(fileURLWithPath: "/usr/lib/postgresql/\(version)/bin")
        self.port = ServerProcess.freePort()
        self.directory = try ServerProcess.temporaryDirectory("flashsale-postgres")
        if getuid() == 0 {
            try ServerProcess.run(try ServerProcess.executable("chown"), ["postgres", self.directory.path])
        }
        try self.asServerUser("initdb", ["-D", self.directory.appendingPathComponent("data").path,
            "-U", "postgres", "--auth=trust", "--no-sync"])
        // A start that fails is tried again on another port: another process may take the port
        // between freePort() and postgres's bind (the suites start servers side by side), and once
        // in CI a postgres that logged "ready" went unanswered by pg_isready until the wait ended.
        for attempt in 1...3 {
            do {
                try self.start()
                return
            } catch TestServerError.didNotStart(let why) where attempt < 3 {
                FileHandle.standardError.write(Data("postgres did not start (\(why)); again on another port\n".utf8))
                self.kill()
                self.port = ServerProcess.freePort()
            }
        }
    }

    deinit {
        self.kill()
        try? FileManager.default.removeItem(at: self.directory)
    }

    /// Runs `postgres` itself as the child (no pg_ctl, whose wait hangs under the test runner's signal mask).
    public func start() throws {
        precondition(self.process == nil, "postgres is already running")
        let postgres = self.binaries.appendingPathComponent("postgres").path
        let arguments = [
            "-D", self.directory.appendingPathComponent("data").path, "-p", String(self.port),
            "-c", "listen_addresses=127.0.0.1", "-k", self.directory.path, "-c", "fsync=off",
        ]
        let process = Process()
        if getuid() == 0 {
            // setpriv execs in place, so the PID is the postmaster's and SIGKILL reaches it.
            process.executableURL = try ServerProcess.executable("setpriv")
            process.arguments = ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", postgres] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: postgres)
            process.arguments = arguments
        }
        // Its messages go to a log beside the data, so that a server that did not start says why.
        let log = self.directory.appendingPathComponent("postgres.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        self.process = process
        // Listening is not ready: until recovery ends, connections get "the database system is starting up".
        let isReady = self.binaries.appendingPathComponent("pg_isready")
        let started = Date()
        while true {
            let status = try ServerProcess.run(isReady, ["-q", "-h", "127.0.0.1", "-p", String(self.port)])
            if status == 0 { return }
            let waited = Date().timeIntervalSince(started)
            guard waited < 20, process.isRunning else {
                let said = (try? String(contentsOf: log, encoding: .utf8))?.split(separator: "\n").suffix(2).joined(separator: " / ") ?? ""
                throw TestServerError.didNotStart(
                    "postgres on port \(self.port) (\(process.isRunning ? "running" : "exited"), pg_isready \(status) after \(Int(waited)) s): \(said)")
            }
            usleep(50_000)
        }
    }

    /// SIGKILL, by PID: test data is thrown away, so no clean shutdown is needed.
    public func kill() {
        guard let process = self.process else { return }
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        self.process = nil
    }

    private func asServerUser(_ tool: String, _ arguments: [String]) throws {
        let binary = self.binaries.appendingPathComponent(tool)
        let status =
            getuid() == 0
            ? try ServerProcess.run(try ServerProcess.executable("runuser"), ["-u", "postgres", "--", binary.path] + arguments)
            : try ServerProcess.run(binary, arguments)
        guard status == 0 else { throw TestServerError.didNotStart("\(tool) \(arguments.first ?? "") (exit \(status))") }
    }
}
