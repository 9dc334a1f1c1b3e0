import ArgumentParser
import FlashSaleAdmin
import FlashSaleClient
import FlashSaleCore
import Foundation

struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the cluster, add and remove nodes, define and read SKUs, and audit the record.",
        discussion: """
            The commands talk to any node's API with the admin token (audit reads the shards and \
            PostgreSQL instead); tables by default, --json for machine-readable answers.
            """,
        subcommands: [Status.self, AddNode.self, RemoveNode.self, SKU.self, Audit.self]
    )

    struct Connection: ParsableArguments {
        @Option(help: "Any node's client URL.") var url: String = "http://127.0.0.1:8080"
        @Option(help: "File holding the admin bearer token (or FLASHSALE_ADMIN_TOKEN).") var adminTokenFile: String?
        @Option(help: "How long to wait for the change to finish.") var waitSeconds: Int = 300

        func client() throws -> AdminClient {
            guard let url = URL(string: self.url), url.scheme == "http" || url.scheme == "https" else {
                throw InputError("--url must be an http:// URL")
            }
            return try AdminClient(baseURL: url, token: adminToken(file: self.adminTokenFile))
        }
    }

    struct AddNode: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a node (POST /v1/cluster/nodes) and show progress until its SKUs have moved to it."
        )
        @OptionGroup var connection: Connection
        @Option(help: "The new node's id.") var id: String
        @Option(help: "Its client URL.") var clientUrl: String
        @Option(help: "Its peer address host:port.") var peerAddress: String
        @Option(help: "Its Redis shard, redis://host:port.") var redisUrl: String
        @Option(help: "Its shard's replica, redis://host:port, when it has one.") var redisReplicaUrl: String?
        @Option(help: "Its relative capacity.") var weight: Double = 1
        @Flag(help: "Print no progress, then GET /v1/cluster's JSON once the node is active.") var json = false

        func run() async throws {
            let node = NodeRegistration(
                id: self.id, clientUrl: self.clientUrl, peerAddress: self.peerAddress, redisUrl: self.redisUrl,
                redisReplicaUrl: self.redisReplicaUrl, weight: self.weight
            )
            let client = try self.connection.client()
            _ = try await client.change(
                { (admin) throws(AdminError) in try await admin.addNode(node) },
                until: { $0.isSettled(node: node.id, in: "active") },
                timeout: .seconds(self.connection.waitSeconds),
                report: { if !self.json { print($0) } }
            )
            print(self.json ? String(decoding: try await client.clusterJSON(), as: UTF8.self) : "\(node.id) is active")
        }
    }

    struct RemoveNode: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a node (DELETE /v1/cluster/nodes/{id}) and show progress until it has handed over its SKUs."
        )
        @OptionGroup var connection: Connection
        @Option(help: "The node's id.") var id: String
        @Flag(help: "Print no progress, then GET /v1/cluster's JSON once the node is down.") var json = false

        func run() async throws {
            let client = try self.connection.client()
            _ = try await client.change(
                { (admin) throws(AdminError) in try await admin.removeNode(self.id) },
                until: { $0.isSettled(node: self.id, in: "down") },
                timeout: .seconds(self.connection.waitSeconds),
                report: { if !self.json { print($0) } }
            )
            print(self.json ? String(decoding: try await client.clusterJSON(), as: UTF8.self) : "\(self.id) is down: it holds no SKUs and may be stopped")
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the nodes (state, SKUs, ring share, moves), the syncer leader and lag, and any change in progress."
        )
        @OptionGroup var connection: Connection
        @Flag(help: "Print GET /v1/cluster's JSON.") var json = false

        func run() async throws {
            let client = try self.connection.client()
            let body = try await client.clusterJSON()
            if self.json {
                print(String(decoding: body, as: UTF8.self))
            } else {
                print(try AdminClient.decode(ClusterStatus.self, body, "GET /v1/cluster").statusReport)
            }
        }
    }

    struct SKU: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sku",
            abstract: "Define or change a SKU, read it, or close its sale.",
            subcommands: [Put.self, Get.self, Close.self]
        )

        struct Put: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Define a SKU or change its stock and settings (PUT /v1/skus/{sku}).")
            @OptionGroup var connection: Connection
            @Argument(help: "The SKU.") var sku: String
            @Option(help: "Its stock (at least what is reserved and committed).") var stock: Int64
            @Option(help: "How many units one user may hold (default 1 for a new SKU).") var perUserLimit: Int64?
            @Option(help: "How long a reservation holds its stock, seconds (default 600 for a new SKU).") var ttlSeconds: Int64?
            @Option(help: "Split a new SKU's stock over this many buckets on different nodes, 1 to 16 (fixed once defined; default 1).")
            var buckets: Int64?
            @Option(help: "When the sale opens, RFC 3339 (2026-12-24T10:00:00Z), on the owner's clock (default: at once).")
            var startsAt: String?
            @Option(help: "When the sale ends, RFC 3339, on the owner's clock (default: never; see sku close).") var endsAt: String?
            @Flag(help: "Print the API's JSON answer.") var json = false

            func run() async throws {
                let body = try await self.connection.client().putSKU(
                    self.sku,
                    SaleTerms(
                        stock: self.stock, perUserLimit: self.perUserLimit, reservationTtlSeconds: self.ttlSeconds, buckets: self.buckets,
                        startsAt: self.startsAt, endsAt: self.endsAt
                    )
                )
                print(self.json ? String(decoding: body, as: UTF8.self) : try AdminClient.decode(SKUView.self, body, "PUT /v1/skus").report)
            }
        }

        struct Get: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Show a SKU's stock, availability and settings (GET /v1/skus/{sku}).")
            @OptionGroup var connection: Connection
            @Argument(help: "The SKU.") var sku: String
            @Flag(help: "Print the API's JSON answer.") var json = false

            func run() async throws {
                let body = try await self.connection.client().sku(self.sku)
                print(self.json ? String(decoding: body, as: UTF8.self) : try AdminClient.decode(SKUView.self, body, "GET /v1/skus").report)
            }
        }

        struct Close: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "End a SKU's sale now, on its owner's clock (POST /v1/skus/{sku}/close): new reservations get sale_ended; "
                    + "those made before can still be committed or released, or expire."
            )
            @OptionGroup var connection: Connection
            @Argument(help: "The SKU.") var sku: String
            @Flag(help: "Print the API's JSON answer.") var json = false

            func run() async throws {
                let body = try await self.connection.client().closeSKU(self.sku)
                print(self.json ? String(decoding: body, as: UTF8.self) : try AdminClient.decode(SKUView.self, body, "POST /v1/skus/close").report)
            }
        }
    }
}

/// The admin token from a file or FLASHSALE_ADMIN_TOKEN.
func adminToken(file: String?) throws -> String {
    var token = ProcessInfo.processInfo.environment["FLASHSALE_ADMIN_TOKEN"]
    if let file {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw InputError("cannot read \(file)") }
        token = text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
    guard let token, !token.isEmpty else { throw InputError("--admin-token-file or FLASHSALE_ADMIN_TOKEN is required") }
    return token
}
