import Foundation
public import NIOSSL

/// The cluster's mutual TLS: every node presents a certificate signed by the cluster CA whose
/// common name is its node id, and accepts only peers that do the same. Hostnames are not checked
/// (peers are addressed by IP); the node id is, against the hello (PeerSession).
public struct PeerTLS: Sendable {
    public let nodeID: String
    public let serverContext: NIOSSLContext
    public let clientContext: NIOSSLContext

    public enum Problem: Error, CustomStringConvertible {
        case missingFile(String)
        case certificateNamesAnotherNode(file: String, names: String?)

        public var description: String {
            switch self {
            case .missingFile(let path): "TLS: \(path) is missing"
            case .certificateNamesAnotherNode(let file, let names):
                "TLS: \(file) names node \(names ?? "(none)"), not this node"
            }
        }
    }

    /// Reads `ca.pem`, `<nodeID>.pem` and `<nodeID>-key.pem` from `directory` (cluster/up writes them).
    public init(directory: String, nodeID: String) throws {
        let ca = "\(directory)/ca.pem"
        let certificatePath = "\(directory)/\(nodeID).pem"
        let keyPath = "\(directory)/\(nodeID)-key.pem"
        for path in [ca, certificatePath, keyPath] where !FileManager.default.fileExists(atPath: path) {
            throw Problem.missingFile(path)
        }
        try self.init(caFile: ca, certificateFile: certificatePath, keyFile: keyPath, nodeID: nodeID)
    }

    public init(caFile: String, certificateFile: String, keyFile: String, nodeID: String) throws {
        let chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
        guard let leaf = chain.first, Self.nodeID(of: leaf) == nodeID else {
            throw Problem.certificateNamesAnotherNode(file: certificateFile, names: chain.first.flatMap(Self.nodeID(of:)))
        }
        let key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        let roots = NIOSSLTrustRoots.certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        let sources = chain.map(NIOSSLCertificateSource.certificate)

        var server = TLSConfiguration.makeServerConfigurationWithMTLS(
            certificateChain: sources,
            privateKey: .privateKey(key),
            trustRoots: roots
        )
        server.minimumTLSVersion = .tlsv13
        var client = TLSConfiguration.makeClientConfiguration()
        client.certificateChain = sources
        client.privateKey = .privateKey(key)
        client.trustRoots = roots
        client.certificateVerification = .noHostnameVerification
        client.minimumTLSVersion = .tlsv13
        self.nodeID = nodeID
        self.serverContext = try NIOSSLContext(configuration: server)
        self.clientContext = try NIOSSLContext(configuration: client)
    }

    /// The node id a certificate names: its subject's common name.
    public static func nodeID(of certificate: NIOSSLCertificate) -> String? {
        certificate.subjectName.last { $0.type == .commonName }?.value
    }
}
