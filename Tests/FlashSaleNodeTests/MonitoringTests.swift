import FlashSaleTesting
import Foundation
import HTTPTypes
import Testing

/// The monitoring files in cluster/monitoring: promtool validates the alert rules and runs their
/// unit tests (each alert fires on a series that should trigger it, and not on a healthy one), and
/// every metric the alerts and the dashboard use is one a real node exports.
@Suite struct MonitoringTests {
    static let folder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("cluster/monitoring")

    /// FLASHSALE_PROMTOOL (cluster/test extracts promtool from Debian's prometheus package) or
    /// promtool on the PATH.
    static func promtool() throws -> String {
        if let path = ProcessInfo.processInfo.environment["FLASHSALE_PROMTOOL"], FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let path = "\(directory)/promtool"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw PromtoolMissing()
    }

    struct PromtoolMissing: Error, CustomStringConvertible {
        var description: String { "promtool not found: run the tests with cluster/test, or set FLASHSALE_PROMTOOL" }
    }

    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.promtool())
        process.arguments = arguments
        process.currentDirectoryURL = Self.folder
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    @Test func promtoolAcceptsTheRulesAndTheirUnitTestsPass() throws {
        let check = try Self.run(["check", "rules", "alerts.yml"])
        #expect(check.status == 0, "\(check.output)")
        #expect(check.output.contains("SUCCESS: 4 rules found"))
        let unit = try Self.run(["test", "rules", "alerts.test.yml"])
        #expect(unit.status == 0, "\(unit.output)")
        let config = try Self.run(["check", "config", "prometheus.yml"])
        #expect(config.status == 0, "\(config.output)")
    }

    @Test func theAlertsAndTheDashboardUseOnlyMetricsANodeExports() async throws {
        var used = Set<String>()
        for file in ["alerts.yml", "grafana-dashboard.json"] {
            let text = try String(contentsOf: Self.folder.appendingPathComponent(file), encoding: .utf8)
            let names = try Regex(#"flashsale_[a-z_]+"#)
            for match in text.matches(of: names) {
                used.insert(String(text[match.range]).replacing(/_(bucket|count|sum)$/, with: ""))
            }
        }
        #expect(used.count >= 10)

        try await TestCluster.with(nodes: 1) { cluster in
            let port = cluster.ports[0]
            _ = try await HTTP.call(port, .put, "/v1/skus/m", body: #"{"stock": 1}"#)
            _ = try await HTTP.call(port, .post, "/v1/skus/m/reservations", body: #"{"user":"u","quantity":1,"requestId":"r"}"#)
            try await Task.sleep(for: .seconds(2))  // the gauges are read once a second
            let (status, exported) = try await HTTP.call(port, .get, "/metrics")
            #expect(status == 200)
            for name in used.sorted() {
                let samples = ["\n\(name) ", "\n\(name){", "\n\(name)_bucket{"]
                #expect(samples.contains { exported.contains($0) }, "\(name) is not exported")
            }
        }
    }
}
