public import Foundation

/// A process environment that runs a program on a skewed clock through Debian's libfaketime
/// (package faketime), as on a host whose clock drifted.
///
/// libfaketime moves the monotonic clock with the wall clock, and it must: it shifts the absolute
/// deadlines a program gives timerfd (NIO's timers) by the offset, so a program on an unmoved
/// monotonic clock would see its timers fire at once, for ever. The monotonic clock cannot go
/// below zero, so an offset behind is at most the host's uptime less two minutes (`behindSeconds`).
public enum SkewedClock {
    /// `offsetSeconds` ahead (positive) or behind (negative).
    public static func environment(offsetSeconds: Int) throws -> [String: String] {
        let library = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib"]
            .map { "\($0)/faketime/libfaketimeMT.so.1" }
            .first { FileManager.default.fileExists(atPath: $0) }
        guard let library else { throw TestServerError.missingExecutable("libfaketimeMT.so.1 (apt-get install faketime)") }
        return ["LD_PRELOAD": library, "FAKETIME": offsetSeconds >= 0 ? "+\(offsetSeconds)s" : "\(offsetSeconds)s"]
    }

    /// How far behind a process may run here: `wanted`, or less on a host up for less than that.
    public static func behindSeconds(_ wanted: Int) -> Int {
        let uptime = (try? String(contentsOfFile: "/proc/uptime", encoding: .utf8))
            .flatMap { $0.split(separator: " ").first }.flatMap { Double($0) } ?? 0
        return max(0, min(wanted, Int(uptime) - 120))
    }
}
