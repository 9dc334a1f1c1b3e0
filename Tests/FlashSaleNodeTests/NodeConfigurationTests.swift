import Configuration
import FlashSaleNode
import Foundation
import Testing

@Suite struct NodeConfigurationTests {
    static func reader(_ layers: [[AbsoluteConfigKey: ConfigContent]]) -> ConfigReader {
        ConfigReader(providers: layers.enumerated().map { index, values in
            InMemoryProvider(name: "layer\(index)", values: values.mapValues { ConfigValue($0, isSecret: false) })
        })
    }

    @Test func earlierProvidersWinAndDefaultsFillTheRest() throws {
        let configuration = try NodeConfiguration(reader: Self.reader([
            ["node.id": .string("n7"), "http.port": .int(9001)],
            ["http.port": .int(1), "redis.url": .string("redis://127.0.0.1:7001"), "admin.token": .string("t")],
        ]))
        #expect(configuration.nodeID == "n7")
        #expect(configuration.httpPort == 9001)
        #expect(configuration.redisURL == "redis://127.0.0.1:7001")
        #expect(configuration.httpHost == "127.0.0.1")
        #expect(configuration.adminToken == "t")
        #expect(configuration.clientURL == "http://127.0.0.1:9001")
    }

    @Test func readsTheAdminTokenFromAFileTrimmed() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("token-\(UUID().uuidString)")
        try "s3cret\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let configuration = try NodeConfiguration(reader: Self.reader([
            ["node.id": .string("n1"), "admin.tokenFile": .string(file.path)]
        ]))
        #expect(configuration.adminToken == "s3cret")
        // An inline token in a lower layer (the environment) does not override the file.
        let both = try NodeConfiguration(reader: Self.reader([
            ["node.id": .string("n1"), "admin.tokenFile": .string(file.path)],
            ["admin.token": .string("from-environment")],
        ]))
        #expect(both.adminToken == "s3cret")
    }

    @Test func readsThePeerSourceHostAndRefusesOneThatIsNotAnAddress() throws {
        let base: [AbsoluteConfigKey: ConfigContent] = ["node.id": .string("n1"), "admin.token": .string("t")]
        #expect(try NodeConfiguration(reader: Self.reader([base])).peerSourceHost == nil)
        let pinned = try NodeConfiguration(reader: Self.reader([["peer.sourceHost": .string("127.0.1.3")], base]))
        #expect(pinned.peerSourceHost == "127.0.1.3")
        #expect(throws: NodeConfiguration.Problem.self) {
            try NodeConfiguration(reader: Self.reader([["peer.sourceHost": .string("node-three")], base]))
        }
    }

    @Test func readsTheClientLimitsWithAPerUserLimitOnByDefault() throws {
        let base: [AbsoluteConfigKey: ConfigContent] = ["node.id": .string("n1"), "admin.token": .string("t")]
        let defaults = try NodeConfiguration(reader: Self.reader([base]))
        #expect(defaults.userRequestsPerSecond == 20 && defaults.addressRequestsPerSecond == 0 && defaults.httpConnectionsMax == 10_000)
        let set = try NodeConfiguration(reader: Self.reader([
            ["limits.userPerSecond": .double(0), "limits.addressPerSecond": .double(500), "limits.addressBurst": .double(50),
             "http.connectionsMax": .int(64)],
            base,
        ]))
        #expect(set.userRequestsPerSecond == 0 && set.addressRequestsPerSecond == 500 && set.addressBurst == 50 && set.httpConnectionsMax == 64)
        for invalid: [AbsoluteConfigKey: ConfigContent] in [
            ["limits.userPerSecond": .double(-1)], ["limits.userBurst": .double(0.5)], ["http.connectionsMax": .int(0)],
        ] {
            #expect(throws: NodeConfiguration.Problem.self) { try NodeConfiguration(reader: Self.reader([invalid, base])) }
        }
    }

    @Test func refusesMissingOrInvalidSettings() {
        #expect(throws: NodeConfiguration.Problem.self) {
            try NodeConfiguration(reader: Self.reader([["admin.token": .string("t")]]))
        }
        #expect(throws: NodeConfiguration.Problem.self) {
            try NodeConfiguration(reader: Self.reader([["node.id": .string("n1")]]))
        }
        #expect(throws: NodeConfiguration.Problem.self) {
            try NodeConfiguration(reader: Self.reader([
                ["node.id": .string("n1"), "admin.token": .string("t"), "http.port": .int(70000)]
            ]))
        }
        #expect(throws: NodeConfiguration.Problem.self) {
            try NodeConfiguration(reader: Self.reader([
                ["node.id": .string("n1"), "admin.tokenFile": .string("/nonexistent/token")]
            ]))
        }
    }
}
