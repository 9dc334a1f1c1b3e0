import FlashSaleCore
import NIOCore

/// `forwardRequest` and `previousOwnerRequest` carry one: the hop limit, the sender's epoch, the operation, the trace id.
extension ByteBuffer {
    mutating func writeForwardRequest(_ request: ForwardRequest) {
        self.writeInteger(request.hopLimit)
        self.writeInteger(request.senderEpoch)
        self.writeOperation(request.operation)
        self.writeText(request.traceId)
    }

    mutating func readForwardRequest() throws(PeerFrameError) -> ForwardRequest {
        let hopLimit = try self.read(UInt8.self)
        let epoch = try self.read(Int64.self)
        let operation = try self.readOperation()
        return ForwardRequest(hopLimit: hopLimit, senderEpoch: epoch, operation: operation, traceId: try self.readText())
    }
}
