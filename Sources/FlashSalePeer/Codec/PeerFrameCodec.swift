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

/// A reservation's status on the wire: its index here (in a snapshot entry and a reservation).
let statusCodes: [ReservationStatus] = [.reserved, .committed, .released, .expired]
/// A snapshot entry's status on the wire: the statuses, then a reservation prepared for its cart's commit.
let entryStatusCodes: [EntryStatus] = statusCodes.map { EntryStatus(status: $0, isCommitPrepared: false) } + [EntryStatus(status: .reserved, isCommitPrepared: true)]

struct EntryStatus: Hashable {
    var status: ReservationStatus
    var isCommitPrepared: Bool
}

extension ByteBuffer {
    mutating func writeText(_ text: String) {
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

    mutating func read<Integer: FixedWidthInteger>(_: Integer.Type) throws(PeerFrameError) -> Integer {
        guard let value = self.readInteger(as: Integer.self) else { throw .malformed("the frame ends inside a field") }
        return value
    }

    mutating func readText() throws(PeerFrameError) -> String {
        let count = Int(try self.read(UInt16.self))
        guard count <= PeerFrameCodec.maximumStringLength else { throw .malformed("a \(count)-byte string") }
        guard let bytes = self.readBytes(length: count) else { throw .malformed("the frame ends inside a string") }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .malformed("a string is not UTF-8") }
        return text
    }

    mutating func readCode<Code: RawRepresentable<UInt8>>(_: Code.Type) throws(PeerFrameError) -> Code {
        let raw = try self.read(UInt8.self)
        guard let code = Code(rawValue: raw) else { throw .malformed("unknown \(Code.self) \(raw)") }
        return code
    }

    mutating func readIndexed<Value>(_ table: [Value], _ what: String) throws(PeerFrameError) -> Value {
        let raw = Int(try self.read(UInt8.self))
        guard raw < table.count else { throw .malformed("unknown \(what) \(raw)") }
        return table[raw]
    }

    mutating func readFlag() throws(PeerFrameError) -> Bool {
        switch try self.read(UInt8.self) {
        case 0: return false
        case 1: return true
        case let other: throw .malformed("a flag of \(other)")
        }
    }
}
