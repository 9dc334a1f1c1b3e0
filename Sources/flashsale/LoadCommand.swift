public import ArgumentParser
import FlashSaleClient
import FlashSaleCore
import FlashSaleLoad
import Foundation
import Histogram

struct Load: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drive a sale against a running cluster and write the history of every request.",
        discussion: """
            Defines SKUs PREFIX0..PREFIX(N-1), then buyers reserve a random SKU as a random user and \
            commit, release or abandon what they get, through FlashSaleClient: each request goes to \
            its SKU's owner (--routing owner) or a random node (--routing any); one without an \
            answer, or answered 503, is retried with the same requestId. Prints progress every \
            second and latency percentiles at the end; `flashsale check HISTORY` checks the run.
            """
    )

    @Option(help: "A node's client URL (repeat for several).") var url: [String] = ["http://127.0.0.1:8080"]
    @Option(help: "File holding the admin bearer token (or FLASHSALE_ADMIN_TOKEN).") var adminTokenFile: String?
    @Option(help: "Where to write the history (JSON lines).") var history: String = "history.jsonl"
    @Option(help: "SKU name prefix.") var skuPrefix: String = "load-"
    @Option(help: "Number of SKUs.") var skus: Int = 20
    @Option(help: "Stock of each SKU.") var stock: Int64 = 100
    @Option(help: "Per-user limit of each SKU.") var perUserLimit: Int64 = 2
    @Option(help: "Reservation time to live, seconds.") var ttlSeconds: Int64 = 600
    @Option(help: "Split the odd-numbered SKUs over this many buckets (1 to 16), so one run sells both kinds.")
    var buckets: Int64 = 1
    @Option(help: "Number of distinct users.") var users: Int = 500
    @Option(help: "Buyers running at once.") var concurrency: Int = 16
    @Option(help: "Reservations started per second over all buyers (default: a closed loop, as fast as answered).")
    var rate: Double?
    @Option(help: "How long to run, seconds.") var seconds: Int = 30
    @Option(help: "Share of reservations committed.") var commitShare: Double = 0.5
    @Option(help: "Share of reservations released (the rest are abandoned).") var releaseShare: Double = 0.25
    @Option(help: "Give every third SKU a sale window opening this many seconds after its definition (with --window-open-seconds).")
    var windowOpensAfterSeconds: Int?
    @Option(help: "How long those SKUs' sale windows stay open, seconds.") var windowOpenSeconds: Int?
    @Option(help: "Where each request goes: owner (its SKU's owner, by the ring read from the cluster) or any (a random node).")
    var routing: FlashSaleClient.Routing = .owner
    @Option(help: "Share of a buyer's turns that ask for a cart of 2 or 3 SKUs (all or nothing) instead of one reservation.")
    var cartShare: Double = 0
    @Option(help: "SKUs in each cart, 1 to 16 (default: 2 or 3 at random).") var cartSize: Int?
    @Flag(inversion: .prefixedNo, help: "Define the SKUs first (--no-define: they exist already, as the same settings would define them).")
    var define = true
    @Flag(inversion: .prefixedNo, help: "Print a progress line every second (it reads every SKU's stock).") var progress = true
    @Flag(help: "End with one line for benchmark scripts: RESULT created=N other=N carts=N seconds=S p50_us=N p99_us=N (latency in whole ms; carts: carts held).")
    var resultLine = false

    func validate() throws {
        guard (1...10_000).contains(self.skus), (1...1024).contains(self.concurrency), (1...3600).contains(self.seconds),
            self.users >= 1, self.stock >= 0, self.perUserLimit >= 1, (1...SKUBuckets.maximum).contains(self.buckets),
            self.commitShare >= 0, self.releaseShare >= 0,
            self.commitShare + self.releaseShare <= 1, (0...1).contains(self.cartShare), self.cartSize.map({ (1...16).contains($0) }) ?? true, self.rate.map({ (0.1...1_000_000).contains($0) }) ?? true
        else {
            throw ValidationError(
                "out of range: skus 1-10000, concurrency 1-1024, seconds 1-3600, buckets 1-16, shares summing to at most 1, cart share 0-1, cart size 1-16, rate 0.1-1000000"
            )
        }
        guard (self.windowOpensAfterSeconds == nil) == (self.windowOpenSeconds == nil),
            self.windowOpensAfterSeconds.map({ (0...86_400).contains($0) }) ?? true, self.windowOpenSeconds.map({ (1...86_400).contains($0) }) ?? true
        else {
            throw ValidationError("--window-opens-after-seconds (0-86400) and --window-open-seconds (1-86400) go together")
        }
    }

    func run() async throws {
        let urls = try self.url.map { text in
            guard let url = URL(string: text), url.scheme == "http" || url.scheme == "https" else { throw ValidationError("\(text) is not an http:// URL") }
            return url
        }
        let generator = try LoadGenerator(
            settings: .init(
                urls: urls, adminToken: try adminToken(file: self.adminTokenFile), skuPrefix: self.skuPrefix, skuCount: self.skus,
                stock: self.stock, perUserLimit: self.perUserLimit, reservationTtlSeconds: self.ttlSeconds, buckets: self.buckets, users: self.users,
                concurrency: self.concurrency, duration: .seconds(self.seconds), commitShare: self.commitShare, releaseShare: self.releaseShare,
                targetRatePerSecond: self.rate,
                saleWindow: self.windowOpenSeconds.map { open in
                    .init(opensAfter: .seconds(self.windowOpensAfterSeconds ?? 0), openFor: .seconds(open))
                },
                routing: self.routing, cartShare: self.cartShare, cartSize: self.cartSize
            )
        )
        if self.define { try await generator.defineSKUs() }
        let started = ContinuousClock.now
        let run = Task { await generator.run() }
        let end = ContinuousClock.now + .seconds(self.seconds)
        // On a terminal one status line is redrawn in place; into a file, a line a second.
        let redraw = isatty(STDOUT_FILENO) == 1
        var last = 0
        while self.progress, ContinuousClock.now < end {
            try await Task.sleep(for: .seconds(1))
            let progress = generator.progress
            let count = { (prefix: String) in progress.outcomes.filter { $0.key.hasPrefix(prefix) }.values.reduce(0, +) }
            let stock = await generator.stockLeft().map(String.init) ?? "?"
            let line =
                "\(progress.requests - last) requests/s, \(progress.requests) in all: \(count("reserve 201")) reserved, "
                + "\(count("reserve 409")) refused, \(count("commit 200")) committed, \(count("release 200")) released, \(count("cart 201")) carts held, "
                + "\(progress.outcomes.filter { $0.key.hasSuffix("no answer") || $0.key.contains(" 5") }.values.reduce(0, +)) unanswered or 5xx; "
                + "stock left \(stock), p99 \(progress.latency.valueAtPercentile(99)) ms"
            if redraw {
                FileHandle.standardOutput.write(Data(("\r\u{1B}[K" + line).utf8))
            } else {
                print(line)
            }
            last = progress.requests
        }
        if redraw { print() }
        await run.value
        let progress = generator.progress
        for (outcome, count) in progress.outcomes.sorted(by: { $0.key < $1.key }) { print("  \(outcome): \(count)") }
        for percentile in [50.0, 90, 99, 99.9, 100] {
            print("  p\(percentile): \(progress.latency.valueAtPercentile(percentile)) ms")
        }
        try HistoryFile.write(generator.history, to: self.history)
        print("history of \(generator.history.count) requests in \(self.history)")
        if self.resultLine {
            let created = progress.outcomes["reserve 201", default: 0]
            let carts = progress.outcomes["cart 201", default: 0]
            let other = progress.outcomes.filter { $0.key.hasPrefix("reserve") || $0.key.hasPrefix("cart ") }.values.reduce(0, +) - created - carts
            let seconds = Double((ContinuousClock.now - started).wholeMilliseconds) / 1000
            print(
                "RESULT created=\(created) other=\(other) carts=\(carts) seconds=\(seconds) p50_us=\(progress.latency.valueAtPercentile(50) * 1000) "
                    + "p99_us=\(progress.latency.valueAtPercentile(99) * 1000)"
            )
        }
    }
}

extension FlashSaleClient.Routing: ExpressibleByArgument {}
