import FlashSaleTesting
import Foundation
import HTTPTypes
import Testing

/// The status page in a real browser: headless Chromium (Debian's chromium-headless-shell) loads
/// `/` from one node of a real two-node cluster, runs its script (which reads /v1/cluster there
/// and /v1/node/stats from every node), and the test reads what it rendered.
@Suite struct StatusPageBrowserTests {
    /// FLASHSALE_CHROMIUM, or chromium-headless-shell or chromium on the PATH.
    static func browser() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["FLASHSALE_CHROMIUM"], FileManager.default.isExecutableFile(atPath: path) { return path }
        for name in ["chromium-headless-shell", "chromium"] {
            for directory in (environment["PATH"] ?? "").split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
                return "\(directory)/\(name)"
            }
        }
        throw BrowserMissing()
    }

    struct BrowserMissing: Error, CustomStringConvertible {
        var description: String { "no headless Chromium: run the tests with cluster/test (it installs chromium-headless-shell), or set FLASHSALE_CHROMIUM" }
    }

    /// The DOM after the page's scripts ran for `budgetMilliseconds` of virtual time.
    static func renderedDOM(_ url: String, budgetMilliseconds: Int = 5_000) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.browser())
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=\(budgetMilliseconds)", "--dump-dom", url]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let dom = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return dom
    }

    /// The text of the element with this id: everything between its opening tag and `until`.
    static func section(_ dom: String, id: String, until: String) -> String {
        guard let start = dom.range(of: "id=\"\(id)\"") else { return "" }
        let rest = dom[start.upperBound...]
        return String(rest[..<(rest.range(of: until)?.lowerBound ?? rest.endIndex)])
    }

    @Test func theStatusPageShowsTheNodesTheHotSKUsAndTheSyncer() async throws {
        try await TestCluster.with(nodes: 2) { cluster in
            let ports = cluster.ports
            #expect(try await HTTP.call(ports[0], .put, "/v1/skus/gold-shoe", body: #"{"stock": 50, "perUserLimit": 5}"#).status == 201)
            #expect(try await HTTP.call(ports[0], .put, "/v1/skus/plain-sock", body: #"{"stock": 9}"#).status == 201)
            for index in 0..<7 {
                let body = #"{"user": "u\#(index)", "quantity": 1, "requestId": "r\#(index)"}"#
                #expect(try await HTTP.call(ports[index % 2], .post, "/v1/skus/gold-shoe/reservations", body: body).status == 201)
            }
            #expect(try await HTTP.call(ports[1], .post, "/v1/skus/plain-sock/reservations", body: #"{"user": "v", "quantity": 1, "requestId": "s"}"#).status == 201)
            // A sale still to come and one closed show their phase among the hot SKUs; the closed
            // one holds nothing, so its node archives it at once.
            #expect(try await HTTP.call(ports[0], .put, "/v1/skus/future-hat", body: #"{"stock": 3, "startsAt": "2099-01-01T00:00:00Z"}"#).status == 201)
            #expect(try await HTTP.call(ports[0], .post, "/v1/skus/future-hat/reservations", body: #"{"user": "w", "quantity": 1, "requestId": "t"}"#).status == 409)
            #expect(try await HTTP.call(ports[0], .put, "/v1/skus/old-cap", body: #"{"stock": 4}"#).status == 201)
            #expect(try await HTTP.call(ports[0], .post, "/v1/skus/old-cap/close").status == 200)
            #expect(try await HTTP.call(ports[0], .post, "/v1/skus/old-cap/reservations", body: #"{"user": "w", "quantity": 1, "requestId": "t"}"#).status == 409)
            var archived = false
            for _ in 0..<100 where !archived {
                archived = try await HTTP.call(ports[0], .get, "/v1/node/stats").body.contains(#""sku":"old-cap","reservationsPerHalfMinute":1,"stock":4,"available":4,"phase":"archived""#)
                if !archived { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(archived, "old-cap was not archived")

            let dom = try Self.renderedDOM("http://127.0.0.1:\(ports[0])/")
            let summary = Self.section(dom, id: "summary", until: "</p>")
            #expect(summary.contains("2 nodes (2 active)"), "summary: \(summary)")
            let nodes = Self.section(dom, id: "nodes", until: "</table>")
            for id in ["n1", "n2"] { #expect(nodes.contains("<td>\(id)</td>"), "nodes: \(nodes)") }
            #expect(nodes.components(separatedBy: "class=\"state-active\">active<").count == 3, "nodes: \(nodes)")
            #expect(!nodes.contains("unreachable"), "nodes: \(nodes)")
            // Both nodes' stats were read (cross-origin for the other one): 7 + 1 reservations, the
            // shoe first, each with its stock left.
            let hot = Self.section(dom, id: "hot", until: "</table>")
            #expect(hot.contains("<td>gold-shoe</td><td>7</td><td>43</td><td>50</td><td>open</td>"), "hot: \(hot)")
            #expect(hot.contains("<td>plain-sock</td><td>1</td><td>8</td><td>9</td><td>open</td>"), "hot: \(hot)")
            #expect(hot.contains("<td>future-hat</td><td>1</td><td>3</td><td>3</td><td>scheduled</td>"), "hot: \(hot)")
            #expect(hot.contains("<td>old-cap</td><td>1</td><td>4</td><td>4</td><td>archived</td>"), "hot: \(hot)")
            #expect(hot.range(of: "gold-shoe")!.lowerBound < hot.range(of: "plain-sock")!.lowerBound)
            let syncer = Self.section(dom, id: "syncer", until: "</p>")
            #expect(syncer.contains("syncer leader n"), "syncer: \(syncer)")
            let legend = Self.section(dom, id: "ring-legend", until: "</ul>")
            #expect(legend.contains("n1: ") && legend.contains("n2: "), "legend: \(legend)")
        }
    }
}
