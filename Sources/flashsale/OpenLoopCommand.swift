import ArgumentParser
import FlashSaleLoad
import Foundation
import Histogram

struct OpenLoop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "open-loop",
        abstract: "Offer reservations to one node at a fixed rate and print the latency of every answer.",
        discussion: """
            Request i is sent i/RATE seconds after the start whatever became of the others (an \
            open loop: a slow answer does not lower the offered load), each one a new buyer of the \
            given SKUs in turn, over keep-alive connections opened as needed. Latency counts from \
            when a request was due. The SKUs must exist. The last line is machine-readable (RESULT ...).
            """
    )

    @Option(help: "The node's client URL.") var url: String = "http://127.0.0.1:8080"
    @Option(help: "A SKU to reserve (repeat for several; taken in turn).") var sku: [String] = []
    @Option(help: "Reservations offered per second.") var rate: Double
    @Option(help: "How long to offer them, seconds.") var seconds: Int = 10
    @Option(help: "Connections opened at most.") var connectionsMax: Int = 1024

    func validate() throws {
        guard !self.sku.isEmpty, (1...1_000_000).contains(self.rate), (1...3600).contains(self.seconds), (1...20_000).contains(self.connectionsMax) else {
            throw ValidationError("out of range: at least one --sku, rate 1-1000000, seconds 1-3600, connections-max 1-20000")
        }
    }

    func run() async throws {
        guard let url = URL(string: self.url), url.scheme == "http", let host = url.host, let port = url.port else {
            throw ValidationError("\(self.url) is not an http://host:port URL")
        }
        let load = OpenLoopLoad(
            settings: .init(
                host: host, port: port,
                paths: self.sku.map { "/v1/skus/\($0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? $0)/reservations" },
                ratePerSecond: self.rate, duration: .seconds(self.seconds), connectionsMax: self.connectionsMax
            )
        )
        let report = try await load.run()
        let seconds = Double(report.elapsed.components.seconds) + Double(report.elapsed.components.attoseconds) / 1e18
        let milliseconds = { (quantile: Double) in Double(report.latency.valueAtPercentile(quantile)) / 1000 }
        print("offered \(report.scheduled) at \(self.rate)/s; answered \(report.answered) in \(String(format: "%.2f", seconds)) s")
        print("answers by status: " + report.statuses.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))
        print("not sent \(report.notSent), unanswered \(report.unanswered), failed \(report.failed), connections \(report.connectionsOpened)")
        print(String(format: "latency from due: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms",
                     milliseconds(50), milliseconds(90), milliseconds(99), milliseconds(99.9), Double(report.latency.max) / 1000))
        let latency = report.latency
        print(
            "RESULT scheduled=\(report.scheduled) answered=\(report.answered) created=\(report.statuses[201] ?? 0)"
                + " refused=\(report.statuses[409] ?? 0) unavailable=\(report.statuses[503] ?? 0) not_sent=\(report.notSent)"
                + " unanswered=\(report.unanswered) failed=\(report.failed) connections=\(report.connectionsOpened)"
                + " p50_us=\(latency.valueAtPercentile(50)) p90_us=\(latency.valueAtPercentile(90)) p99_us=\(latency.valueAtPercentile(99))"
                + " p999_us=\(latency.valueAtPercentile(99.9)) max_us=\(latency.max)"
        )
    }
}
