import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import FlashSaleHTTP

/// Every path and method of `APIRoutes` is routed, and any other method on those paths is 405
/// with `Allow`: the table and the router cannot drift apart unnoticed.
@Suite struct APIRoutesTests {
    @Test func everyListedMethodIsRoutedAndOthersAre405() async throws {
        try await APITests.withInMemoryAPI { client in
            for (template, methods) in APIRoutes.table {
                // The status page serves its own files only.
                let path = template == "/status/*" ? "/status/status.js" : template.replacingOccurrences(of: "*", with: "x")
                for method in methods {
                    try await client.execute(uri: path, method: method, headers: APITests.admin) { response in
                        let body = String(buffer: response.body)
                        #expect(response.status != .methodNotAllowed && !body.contains(#""error":"not_found""#), "\(method) \(path): \(body)")
                    }
                }
                for other in [HTTPRequest.Method.trace, .patch, .options] {
                    try await client.execute(uri: path, method: other) { response in
                        #expect(response.status == .methodNotAllowed, "\(other) \(path)")
                        #expect(response.headers[.allow] == methods.map(\.rawValue).joined(separator: ", "))
                    }
                }
            }
            try await client.execute(uri: "/v1/nowhere", method: .trace) { response in
                #expect(response.status == .notFound)
            }
        }
    }
}
