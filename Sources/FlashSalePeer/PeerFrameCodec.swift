import FlashSaleCore
public import NIOCore

/// The peer protocol's bytes: pure functions between `PeerMessage` and `ByteBuffer`, no I/O.
///
/// A frame is `length: UInt32` (the bytes after it), `version: UInt8`, `kind: UInt8`, then the
/// kind's fields. Integers are big-endian; a string is `UInt16` byte count then UTF-8. A frame's
/// length, every string and every enumeration value is checked: anything else is `PeerFrameError`
/// and the connection closes (Docs/PROTOCOL.md).
public enum PeerFrameCodec {
    public static let version: UInt8 = 1
    /// A frame longer than this is refused before it is buffered. A handoff chunk, the largest
    /// frame, keeps its reservations under `HandoffChunk.reservationBytesMaximum`; every other frame
    /// is well under 8 KiB.
    public static let maximumFrameLength = 64 * 1024
    public static let maximumStringLength = 4096

    enum Kind: UInt8 {
        case hello = 1, forwardRequest, forwardResponse, epochChanged, ping, pong, goAway, previousOwnerRequest, handoffRequest,
            handoffResponse
    }

    // MARK: Encoding

    public static func encode(_ message: PeerMessage, into buffer: inout ByteBuffer) {
        let start = buffer.writerIndex
        buffer.writeInteger(UInt32(0))
        buffer.writeInteger(Self.version)
        switch message {
        case .hello(let hello):
            buffer.writeInteger(Kind.hello.rawValue)
            buffer.writeText(hello.nodeID)
            buffer.writeInteger(hello.epoch)
            buffer.writeInteger(hello.minimumVersion)
            buffer.writeInteger(hello.maximumVersion)
        case .forwardRequest(let stream, let request):
            buffer.writeInteger(Kind.forwardRequest.rawValue)
            buffer.writeInteger(stream)
            buffer.writeForwardRequest(request)
        case .previousOwnerRequest(let stream, let request):
            buffer.writeInteger(Kind.previousOwnerRequest.rawValue)
            buffer.writeInteger(stream)
            buffer.writeForwardRequest(request)
        case .handoffRequest(let stream, let chunk):
            buffer.writeInteger(Kind.handoffRequest.rawValue)
            buffer.writeInteger(stream)
            buffer.writeHandoffChunk(chunk)
        case .handoffResponse(let stream, let answer):
            buffer.writeInteger(Kind.handoffResponse.rawValue)
            buffer.writeInteger(stream)
            buffer.writeHandoffAnswer(answer)
        case .forwardResponse(let stream, let response):
            buffer.writeInteger(Kind.forwardResponse.rawValue)
            buffer.writeInteger(stream)
            buffer.writeInteger(response.responderEpoch)
            buffer.writeOutcome(response.outcome)
        case .epochChanged(let epoch):
            buffer.writeInteger(Kind.epochChanged.rawValue)
            buffer.writeInteger(epoch)
        case .ping(let nonce):
            buffer.writeInteger(Kind.ping.rawValue)
            buffer.writeInteger(nonce)
        case .pong(let nonce):
            buffer.writeInteger(Kind.pong.rawValue)
            buffer.writeInteger(nonce)
        case .goAway(let reason):
            buffer.writeInteger(Kind.goAway.rawValue)
            buffer.writeText(reason)
        }
        buffer.setInteger(UInt32(buffer.writerIndex - start - 4), at: start)
    }

    public static func encode(_ message: PeerMessage) -> ByteBuffer {
        var buffer = ByteBuffer()
        Self.encode(message, into: &buffer)
        return buffer
    }

    // MARK: Decoding

    /// Takes one whole frame off the front of `buffer`; nil (and `buffer` untouched) when the
    /// frame has not fully arrived yet.
    public static func decode(_ buffer: inout ByteBuffer) throws(PeerFrameError) -> PeerMessage? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
        guard length >= 2, length <= Self.maximumFrameLength else { throw .badLength(Int(length)) }
        guard buffer.readableBytes >= 4 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        var frame = buffer.readSlice(length: Int(length))!
        let message = try Self.decodeFrame(&frame)
        guard frame.readableBytes == 0 else { throw .malformed("\(frame.readableBytes) bytes after the fields") }
        return message
    }

    private static func decodeFrame(_ frame: inout ByteBuffer) throws(PeerFrameError) -> PeerMessage {
        let version = try frame.read(UInt8.self)
        guard version == Self.version else { throw .unsupportedVersion(version) }
        let code = try frame.read(UInt8.self)
        guard let kind = Kind(rawValue: code) else { throw .unknownKind(code) }
        switch kind {
        case .hello:
            return .hello(
                .init(
                    nodeID: try frame.readText(),
                    epoch: try frame.read(Int64.self),
                    minimumVersion: try frame.read(UInt8.self),
                    maximumVersion: try frame.read(UInt8.self)
                )
            )
        case .forwardRequest:
            let stream = try frame.read(UInt32.self)
            return .forwardRequest(stream: stream, try frame.readForwardRequest())
        case .previousOwnerRequest:
            let stream = try frame.read(UInt32.self)
            return .previousOwnerRequest(stream: stream, try frame.readForwardRequest())
        case .handoffRequest:
            let stream = try frame.read(UInt32.self)
            return .handoffRequest(stream: stream, try frame.readHandoffChunk())
        case .handoffResponse:
            let stream = try frame.read(UInt32.self)
            return .handoffResponse(stream: stream, try frame.readHandoffAnswer())
        case .forwardResponse:
            let stream = try frame.read(UInt32.self)
            let epoch = try frame.read(Int64.self)
            return .forwardResponse(stream: stream, .init(responderEpoch: epoch, outcome: try frame.readOutcome()))
        case .epochChanged:
            return .epochChanged(epoch: try frame.read(Int64.self))
        case .ping:
            return .ping(nonce: try frame.read(UInt64.self))
        case .pong:
            return .pong(nonce: try frame.read(UInt64.self))
        case .goAway:
            return .goAway(reason: try frame.readText())
        }
    }
}

public enum PeerFrameError: Error, Sendable, Hashable {
    case badLength(Int)
    case unsupportedVersion(UInt8)
    case unknownKind(UInt8)
    case malformed(String)
}

// MARK: Field codes. New codes may be added in a later version; a decoder refuses codes it does not know.

private enum OperationCode: UInt8 {
    case defineSKU = 1, skuState, reserve, reservation, commit, release, takeForTransfer, receiveTransfer, finishTransfer
}

private enum OutcomeCode: UInt8 {
    case skuDefinition = 1, skuState, receipt, reservation, failure, transferTaken, transferDelivered
}

private enum FailureCode: UInt8 {
    case invalidRequest = 1, unknownSKU, unknownReservation, soldOut, limitExceeded, stockBelowSold, refused,
        unavailable, staleMembership, moved
}

private enum HandoffOutcomeCode: UInt8 {
    case continueFrom = 1, imported, refused
}

private let statusCodes: [ReservationStatus] = [.reserved, .committed, .released, .expired]
private let refusalCodes: [ReservationRefusal] = [.expired, .released, .committed]

extension ByteBuffer {
    fileprivate mutating func writeText(_ text: String) {
        // Longer text is cut where a UTF-8 sequence starts (not inside a character): only error
        // messages can be this long.
        let utf8 = Array(text.utf8)
        var count = utf8.count
        if count > PeerFrameCodec.maximumStringLength {
            count = PeerFrameCodec.maximumStringLength
            while count > 0 && utf8[count] & 0xC0 == 0x80 { count -= 1 }
        }
        self.writeInteger(UInt16(count))
        self.writeBytes(utf8[..<count])
    }

    fileprivate mutating func read<Integer: FixedWidthInteger>(_: Integer.Type) throws(PeerFrameError) -> Integer {
        guard let value = self.readInteger(as: Integer.self) else { throw .malformed("the frame ends inside a field") }
        return value
    }

    fileprivate mutating func readText() throws(PeerFrameError) -> String {
        let count = Int(try self.read(UInt16.self))
        guard count <= PeerFrameCodec.maximumStringLength else { throw .malformed("a \(count)-byte string") }
        guard let bytes = self.readBytes(length: count) else { throw .malformed("the frame ends inside a string") }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .malformed("a string is not UTF-8") }
        return text
    }

    private mutating func readCode<Code: RawRepresentable<UInt8>>(_: Code.Type) throws(PeerFrameError) -> Code {
        let raw = try self.read(UInt8.self)
        guard let code = Code(rawValue: raw) else { throw .malformed("unknown \(Code.self) \(raw)") }
        return code
    }

    private mutating func readIndexed<Value>(_ table: [Value], _ what: String) throws(PeerFrameError) -> Value {
        let raw = Int(try self.read(UInt8.self))
        guard raw < table.count else { throw .malformed("unknown \(what) \(raw)") }
        return table[raw]
    }

    private mutating func readFlag() throws(PeerFrameError) -> Bool {
        switch try self.read(UInt8.self) {
        case 0: return false
        case 1: return true
        case let other: throw .malformed("a flag of \(other)")
        }
    }

    fileprivate mutating func writeForwardRequest(_ request: ForwardRequest) {
        self.writeInteger(request.hopLimit)
        self.writeInteger(request.senderEpoch)
        self.writeOperation(request.operation)
        self.writeText(request.traceId)
    }

    fileprivate mutating func readForwardRequest() throws(PeerFrameError) -> ForwardRequest {
        let hopLimit = try self.read(UInt8.self)
        let epoch = try self.read(Int64.self)
        let operation = try self.readOperation()
        return ForwardRequest(hopLimit: hopLimit, senderEpoch: epoch, operation: operation, traceId: try self.readText())
    }

    fileprivate mutating func writeHandoffChunk(_ chunk: HandoffChunk) {
        self.writeInteger(chunk.senderEpoch)
        self.writeSKUState(chunk.state)
        self.writeInteger(chunk.version)
        self.writeText(chunk.transfers)
        self.writeInteger(chunk.reservationCount)
        self.writeInteger(chunk.firstIndex)
        self.writeInteger(UInt16(chunk.reservations.count))
        for entry in chunk.reservations {
            self.writeText(entry.id)
            self.writeInteger(UInt8(statusCodes.firstIndex(of: entry.status)!))
            self.writeInteger(entry.quantity)
            self.writeInteger(entry.expiresAtMilliseconds)
            self.writeInteger(entry.version)
            self.writeText(entry.user)
            self.writeText(entry.requestId)
        }
    }

    fileprivate mutating func readHandoffChunk() throws(PeerFrameError) -> HandoffChunk {
        let epoch = try self.read(Int64.self)
        let state = try self.readSKUState()
        let version = try self.read(Int64.self)
        let transfers = try self.readText()
        let total = try self.read(UInt32.self)
        let first = try self.read(UInt32.self)
        let count = try self.read(UInt16.self)
        guard UInt64(first) + UInt64(count) <= UInt64(total) else {
            throw .malformed("reservations \(first)..<\(UInt64(first) + UInt64(count)) of \(total)")
        }
        var entries: [SKUSnapshot.Entry] = []
        for _ in 0..<count {
            let id = try self.readText()
            let status = try self.readIndexed(statusCodes, "reservation status")
            let quantity = try self.read(Int64.self)
            let expiresAt = try self.read(Int64.self)
            let entryVersion = try self.read(Int64.self)
            let user = try self.readText()
            entries.append(
                .init(
                    id: id,
                    status: status,
                    quantity: quantity,
                    expiresAtMilliseconds: expiresAt,
                    version: entryVersion,
                    user: user,
                    requestId: try self.readText()
                )
            )
        }
        return HandoffChunk(
            senderEpoch: epoch,
            state: state,
            version: version,
            transfers: transfers,
            reservationCount: total,
            firstIndex: first,
            reservations: entries
        )
    }

    fileprivate mutating func writeHandoffAnswer(_ answer: HandoffAnswer) {
        self.writeInteger(answer.responderEpoch)
        switch answer.outcome {
        case .continueFrom(let next):
            self.writeInteger(HandoffOutcomeCode.continueFrom.rawValue)
            self.writeInteger(next)
        case .imported:
            self.writeInteger(HandoffOutcomeCode.imported.rawValue)
        case .refused(let reason):
            self.writeInteger(HandoffOutcomeCode.refused.rawValue)
            self.writeText(reason)
        }
    }

    fileprivate mutating func readHandoffAnswer() throws(PeerFrameError) -> HandoffAnswer {
        let epoch = try self.read(Int64.self)
        let outcome: HandoffAnswer.Outcome
        switch try self.readCode(HandoffOutcomeCode.self) {
        case .continueFrom: outcome = .continueFrom(next: try self.read(UInt32.self))
        case .imported: outcome = .imported
        case .refused: outcome = .refused(try self.readText())
        }
        return HandoffAnswer(responderEpoch: epoch, outcome: outcome)
    }

    fileprivate mutating func writeOperation(_ operation: SaleOperation) {
        switch operation {
        case .defineSKU(let sku, let settings):
            self.writeInteger(OperationCode.defineSKU.rawValue)
            self.writeText(sku)
            self.writeSettings(settings)
        case .skuState(let sku):
            self.writeInteger(OperationCode.skuState.rawValue)
            self.writeText(sku)
        case .reserve(let sku, let user, let quantity, let requestId):
            self.writeInteger(OperationCode.reserve.rawValue)
            self.writeText(sku)
            self.writeText(user)
            self.writeInteger(quantity)
            self.writeText(requestId)
        case .reservation(let sku, let id):
            self.writeInteger(OperationCode.reservation.rawValue)
            self.writeText(sku)
            self.writeText(id)
        case .commit(let sku, let id):
            self.writeInteger(OperationCode.commit.rawValue)
            self.writeText(sku)
            self.writeText(id)
        case .release(let sku, let id):
            self.writeInteger(OperationCode.release.rawValue)
            self.writeText(sku)
            self.writeText(id)
        case .takeForTransfer(let sku, let recipient):
            self.writeInteger(OperationCode.takeForTransfer.rawValue)
            self.writeText(sku)
            self.writeInteger(Int64(recipient))
        case .receiveTransfer(let sku, let transfer):
            self.writeInteger(OperationCode.receiveTransfer.rawValue)
            self.writeText(sku)
            self.writeTransfer(transfer)
        case .finishTransfer(let sku, let transfer):
            self.writeInteger(OperationCode.finishTransfer.rawValue)
            self.writeText(sku)
            self.writeTransfer(transfer)
        }
    }

    private mutating func writeSettings(_ settings: SKUSettings) {
        self.writeInteger(settings.stock)
        self.writeInteger(settings.perUserLimit)
        self.writeInteger(settings.reservationTtlSeconds)
        self.writeInteger(settings.buckets)
    }

    private mutating func readSettings() throws(PeerFrameError) -> SKUSettings {
        let stock = try self.read(Int64.self)
        let limit = try self.read(Int64.self)
        let ttl = try self.read(Int64.self)
        return SKUSettings(stock: stock, perUserLimit: limit, reservationTtlSeconds: ttl, buckets: try self.read(Int64.self))
    }

    private mutating func writeTransfer(_ transfer: PendingTransfer) {
        self.writeInteger(Int64(transfer.donor))
        self.writeInteger(Int64(transfer.recipient))
        self.writeInteger(transfer.sequence)
        self.writeInteger(transfer.units)
    }

    private mutating func readTransfer() throws(PeerFrameError) -> PendingTransfer {
        let donor = try self.readBucketIndex()
        let recipient = try self.readBucketIndex()
        let sequence = try self.read(Int64.self)
        return PendingTransfer(donor: donor, recipient: recipient, sequence: sequence, units: try self.read(Int64.self))
    }

    private mutating func readBucketIndex() throws(PeerFrameError) -> Int {
        let index = try self.read(Int64.self)
        guard index >= 0, index < SKUBuckets.maximum else { throw .malformed("bucket index \(index)") }
        return Int(index)
    }

    fileprivate mutating func readOperation() throws(PeerFrameError) -> SaleOperation {
        switch try self.readCode(OperationCode.self) {
        case .defineSKU:
            let sku = try self.readText()
            return .defineSKU(sku: sku, settings: try self.readSettings())
        case .skuState:
            return .skuState(sku: try self.readText())
        case .reserve:
            let sku = try self.readText()
            let user = try self.readText()
            let quantity = try self.read(Int64.self)
            return .reserve(sku: sku, user: user, quantity: quantity, requestId: try self.readText())
        case .reservation:
            return .reservation(sku: try self.readText(), id: try self.readText())
        case .commit:
            return .commit(sku: try self.readText(), id: try self.readText())
        case .release:
            return .release(sku: try self.readText(), id: try self.readText())
        case .takeForTransfer:
            return .takeForTransfer(sku: try self.readText(), recipient: try self.readBucketIndex())
        case .receiveTransfer:
            return .receiveTransfer(sku: try self.readText(), try self.readTransfer())
        case .finishTransfer:
            return .finishTransfer(sku: try self.readText(), try self.readTransfer())
        }
    }

    fileprivate mutating func writeOutcome(_ outcome: SaleOutcome) {
        switch outcome {
        case .skuDefinition(let definition):
            self.writeInteger(OutcomeCode.skuDefinition.rawValue)
            self.writeInteger(UInt8(definition.isNew ? 1 : 0))
            self.writeSKUState(definition.state)
        case .skuState(let state):
            self.writeInteger(OutcomeCode.skuState.rawValue)
            self.writeSKUState(state)
        case .receipt(let receipt):
            self.writeInteger(OutcomeCode.receipt.rawValue)
            self.writeInteger(UInt8(receipt.isNew ? 1 : 0))
            self.writeReservation(receipt.reservation)
        case .reservation(let reservation):
            self.writeInteger(OutcomeCode.reservation.rawValue)
            self.writeReservation(reservation)
        case .failure(let error):
            self.writeInteger(OutcomeCode.failure.rawValue)
            self.writeFailure(error)
        case .transferTaken(let transfer):
            self.writeInteger(OutcomeCode.transferTaken.rawValue)
            self.writeInteger(UInt8(transfer == nil ? 0 : 1))
            if let transfer { self.writeTransfer(transfer) }
        case .transferDelivered(let isNew):
            self.writeInteger(OutcomeCode.transferDelivered.rawValue)
            self.writeInteger(UInt8(isNew ? 1 : 0))
        }
    }

    fileprivate mutating func readOutcome() throws(PeerFrameError) -> SaleOutcome {
        switch try self.readCode(OutcomeCode.self) {
        case .skuDefinition:
            let isNew = try self.readFlag()
            return .skuDefinition(.init(state: try self.readSKUState(), isNew: isNew))
        case .skuState:
            return .skuState(try self.readSKUState())
        case .receipt:
            let isNew = try self.readFlag()
            return .receipt(.init(reservation: try self.readReservation(), isNew: isNew))
        case .reservation:
            return .reservation(try self.readReservation())
        case .failure:
            return .failure(try self.readFailure())
        case .transferTaken:
            return .transferTaken(try self.readFlag() ? try self.readTransfer() : nil)
        case .transferDelivered:
            return .transferDelivered(isNew: try self.readFlag())
        }
    }

    fileprivate mutating func writeSKUState(_ state: SKUState) {
        self.writeText(state.sku)
        self.writeSettings(state.settings)
        self.writeInteger(state.reserved)
        self.writeInteger(state.committed)
    }

    fileprivate mutating func readSKUState() throws(PeerFrameError) -> SKUState {
        let sku = try self.readText()
        let settings = try self.readSettings()
        let reserved = try self.read(Int64.self)
        let committed = try self.read(Int64.self)
        return SKUState(
            sku: sku,
            settings: settings,
            reserved: reserved,
            committed: committed
        )
    }

    private mutating func writeReservation(_ reservation: Reservation) {
        self.writeText(reservation.id)
        self.writeText(reservation.sku)
        self.writeText(reservation.user)
        self.writeInteger(reservation.quantity)
        self.writeInteger(UInt8(statusCodes.firstIndex(of: reservation.status)!))
        self.writeInteger(reservation.expiresAtMilliseconds)
        self.writeText(reservation.requestId)
    }

    private mutating func readReservation() throws(PeerFrameError) -> Reservation {
        let id = try self.readText()
        let sku = try self.readText()
        let user = try self.readText()
        let quantity = try self.read(Int64.self)
        let status = try self.readIndexed(statusCodes, "reservation status")
        let expiresAt = try self.read(Int64.self)
        return Reservation(
            id: id,
            sku: sku,
            user: user,
            quantity: quantity,
            status: status,
            expiresAtMilliseconds: expiresAt,
            requestId: try self.readText()
        )
    }

    private mutating func writeFailure(_ error: SaleError) {
        switch error {
        case .invalidRequest(let message):
            self.writeInteger(FailureCode.invalidRequest.rawValue)
            self.writeText(message)
        case .unknownSKU: self.writeInteger(FailureCode.unknownSKU.rawValue)
        case .unknownReservation: self.writeInteger(FailureCode.unknownReservation.rawValue)
        case .soldOut: self.writeInteger(FailureCode.soldOut.rawValue)
        case .limitExceeded: self.writeInteger(FailureCode.limitExceeded.rawValue)
        case .stockBelowSold(let held):
            self.writeInteger(FailureCode.stockBelowSold.rawValue)
            self.writeInteger(held)
        case .refused(let refusal):
            self.writeInteger(FailureCode.refused.rawValue)
            self.writeInteger(UInt8(refusalCodes.firstIndex(of: refusal)!))
        case .unavailable(let message):
            self.writeInteger(FailureCode.unavailable.rawValue)
            self.writeText(message)
        case .staleMembership(let epoch):
            self.writeInteger(FailureCode.staleMembership.rawValue)
            self.writeInteger(epoch)
        case .moved(let epoch):
            self.writeInteger(FailureCode.moved.rawValue)
            self.writeInteger(epoch)
        }
    }

    private mutating func readFailure() throws(PeerFrameError) -> SaleError {
        switch try self.readCode(FailureCode.self) {
        case .invalidRequest: return .invalidRequest(try self.readText())
        case .unknownSKU: return .unknownSKU
        case .unknownReservation: return .unknownReservation
        case .soldOut: return .soldOut
        case .limitExceeded: return .limitExceeded
        case .stockBelowSold: return .stockBelowSold(reservedAndCommitted: try self.read(Int64.self))
        case .refused: return .refused(try self.readIndexed(refusalCodes, "refusal"))
        case .unavailable: return .unavailable(try self.readText())
        case .staleMembership: return .staleMembership(shardEpoch: try self.read(Int64.self))
        case .moved: return .moved(epoch: try self.read(Int64.self))
        }
    }
}
