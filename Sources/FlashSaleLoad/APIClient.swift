import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP call to a node's public API; nil status when no answer came in time.
struct APIClient: Sendable {
    let token: String
    let timeout: TimeInterval

    func call(_ method: String, _ url: URL, body: String? = nil) async -> (status: Int?, body: Data) {
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.timeoutInterval = self.timeout
        request.setValue("Bearer \(self.token)", forHTTPHeaderField: "Authorization")
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        guard let (data, response) = try? await URLSession.shared.data(for: request) else { return (nil, Data()) }
        return ((response as? HTTPURLResponse)?.statusCode, data)
    }

    static func object(_ data: Data) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }
}

extension URL {
    /// `base` with a path of percent-encoded segments appended.
    static func api(_ base: URL, _ segments: String...) -> URL {
        var url = base
        for segment in segments { url.appendPathComponent(segment) }
        return url
    }
}
