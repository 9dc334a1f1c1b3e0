public import Hummingbird

public struct APIRequestContext: RequestContext {
    /// Bodies over 64 KiB get 413 (DESIGN section 3).
    public static let bodyBytesMax = 64 * 1024

    public var coreContext: CoreRequestContextStorage

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }

    public var maxUploadSize: Int { Self.bodyBytesMax }
}
