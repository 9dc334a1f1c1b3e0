public import Foundation

/// A cluster CA and node certificates made by the same shell functions cluster/up uses
/// (cluster/lib.sh: make_cluster_ca, make_node_cert), so the tests check the launcher's certificates.
public enum TestCertificates {
    static let library = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("cluster/lib.sh")

    /// A new folder holding ca.pem, ca-key.pem and, for every id, ID.pem and ID-key.pem.
    public static func make(nodes: [String]) throws -> URL {
        let directory = try ServerProcess.temporaryDirectory("flashsale-tls")
        let script = #"source "$0"; tls="$1"; shift; make_cluster_ca "$tls"; for id in "$@"; do make_node_cert "$tls" "$id"; done"#
        let status = try ServerProcess.run(
            try ServerProcess.executable("bash"),
            ["-c", script, Self.library.path, directory.appendingPathComponent("tls").path] + nodes
        )
        guard status == 0 else { throw TestServerError.didNotStart("openssl certificates (exit \(status))") }
        return directory.appendingPathComponent("tls")
    }
}
