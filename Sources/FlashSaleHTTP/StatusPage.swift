import Foundation
import Hummingbird

/// The live status page (`/`, `/status/status.js`, `/status/status.css`) and the API's OpenAPI
/// document (`/openapi.yaml`, which Docs/openapi.yaml links to): plain files shipped as the
/// target's resources, read once, served from memory. Only these names are served.
enum StatusPage {
    static let files: [String: (contentType: String, body: ByteBuffer)] = {
        var files: [String: (String, ByteBuffer)] = [:]
        for (name, type) in [
            ("index.html", "text/html; charset=utf-8"), ("status.js", "text/javascript; charset=utf-8"),
            ("status.css", "text/css; charset=utf-8"), ("openapi.yaml", "application/yaml"),
        ] {
            let parts = name.split(separator: ".")
            guard let url = Bundle.module.url(forResource: String(parts[0]), withExtension: String(parts[1]), subdirectory: "StatusPage"),
                let data = try? Data(contentsOf: url)
            else { continue }
            files[name] = (type, ByteBuffer(bytes: data))
        }
        return files
    }()

    static func response(for name: String) throws(APIError) -> Response {
        guard let file = Self.files[name] else { throw APIError(.notFound, "not_found", "no such file of the status page") }
        return Response(
            status: .ok,
            headers: [.contentType: file.contentType, .cacheControl: "no-cache"],
            body: .init(byteBuffer: file.body)
        )
    }
}
