public import Hummingbird
public import NIOCore

public struct APIRequestContext: RequestContext, RemoteAddressRequestContext {
    /// Bodies over 64 KiB get 413 (DESIGN section 3).
    public static let bodyBytesMax = 64 * 1024

    public var coreContext: CoreRequestContextStorage
    /// The client's address, for the per-address rate limit.
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }

    public var maxUploadSize: Int { Self.bodyBytesMax }
}
