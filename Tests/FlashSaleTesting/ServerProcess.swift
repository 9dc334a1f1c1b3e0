public import Foundation

/// A server process a test started, stopped by its PID.
public enum ServerProcess {
    /// Asks the kernel for a free 127.0.0.1 port by binding port 0.
    public static func freePort() -> Int {
        let socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        precondition(socketDescriptor >= 0, "socket() failed")
        defer { close(socketDescriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(socketDescriptor, generic, length) == 0 && getsockname(socketDescriptor, generic, &length) == 0
            }
        }
        precondition(bound, "bind() to 127.0.0.1:0 failed")
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// True once something accepts TCP connections on 127.0.0.1:port.
    public static func isListening(port: Int) -> Bool {
        let socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketDescriptor >= 0 else { return false }
        defer { close(socketDescriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socketDescriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    public static func waitUntilListening(port: Int, seconds: Double, what: String) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !isListening(port: port) {
            guard Date() < deadline else { throw TestServerError.didNotStart("\(what) on port \(port)") }
            usleep(20_000)
        }
    }

    /// The first of `names` found on PATH or in the usual system folders.
    public static func executable(_ name: String, extraFolders: [String] = []) throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let folders = path.split(separator: ":").map(String.init) + extraFolders + ["/usr/bin", "/usr/sbin"]
        for folder in folders {
            let candidate = URL(fileURLWithPath: folder).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw TestServerError.missingExecutable(name)
    }

    public static func temporaryDirectory(_ prefix: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Runs a command to completion and returns its status.
    @discardableResult
    public static func run(_ executable: URL, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

public enum TestServerError: Error, CustomStringConvertible {
    case didNotStart(String)
    case missingExecutable(String)

    public var description: String {
        switch self {
        case .didNotStart(let what): "\(what) did not start in time"
        case .missingExecutable(let name): "\(name) is not installed (run cluster/test, which installs it)"
        }
    }
}
