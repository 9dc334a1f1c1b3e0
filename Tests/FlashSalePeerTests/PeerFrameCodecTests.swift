import FlashSaleCore
import NIOCore
import Testing

@testable import FlashSalePeer

struct PeerFrameCodecTests {
    static let state = SKUState(
        sku: "sku-é", settings: .init(stock: 50, perUserLimit: 2, reservationTtlSeconds: 600), reserved: 3, committed: 4
    )
    static let transfer = PendingTransfer(donor: 0, recipient: 1, sequence: .max, units: 7)
    static let reservation = Reservation(
        id: "r1", sku: "sku-é", user: "u1", quantity: 2, status: .committed, expiresAtMilliseconds: 1_764_000_000_000,
        requestId: "q1"
    )

    /// One of every message, operation, outcome and failure.
    static let samples: [PeerMessage] = {
        var messages: [PeerMessage] = [
            .hello(.init(nodeID: "n1", epoch: 7, minimumVersion: 1, maximumVersion: 3)),
            .epochChanged(epoch: .max),
            .ping(nonce: 0),
            .pong(nonce: .max),
            .goAway(reason: "bye"),
        ]
        let operations: [SaleOperation] = [
            .defineSKU(sku: "a", settings: .init(stock: 0, perUserLimit: 1, reservationTtlSeconds: 1)),
            .skuState(sku: "a"),
            .reserve(sku: "a", user: "u", quantity: .max, requestId: String(repeating: "r", count: 128)),
            .reservation(sku: "a", id: "i"),
            .commit(sku: "a", id: "i"),
            .release(sku: "a", id: "i"),
            .prepareCommit(sku: "a", id: "i"),
            .cartRelease(sku: "a", id: "i"),
            .defineSKU(sku: "split", settings: .init(stock: 90, perUserLimit: 2, reservationTtlSeconds: 60, buckets: 3)),
            .defineSKU(sku: "opens", settings: .init(stock: 1, startsAtMilliseconds: 1_798_106_400_000)),
            .defineSKU(sku: "window", settings: .init(stock: 1, startsAtMilliseconds: 1, endsAtMilliseconds: .max)),
            .closeSKU(sku: "window"),
            .takeForTransfer(sku: SKUBuckets.name(of: "split", bucket: 2), recipient: 15),
            .receiveTransfer(sku: SKUBuckets.name(of: "split", bucket: 1), transfer),
            .finishTransfer(sku: SKUBuckets.name(of: "split", bucket: 0), transfer),
        ]
        for (index, operation) in operations.enumerated() {
            let traceId = index.isMultiple(of: 2) ? "" : "trace-\(index)"
            messages.append(.forwardRequest(stream: UInt32(index), .init(hopLimit: UInt8(index), senderEpoch: 3, operation: operation, traceId: traceId)))
        }
        var outcomes: [SaleOutcome] = [
            .skuDefinition(.init(state: state, isNew: true)),
            .skuState(state),
            .receipt(.init(reservation: reservation, isNew: false)),
            .reservation(reservation),
            .transferTaken(transfer),
            .transferTaken(nil),
            .transferDelivered(isNew: true),
            .transferDelivered(isNew: false),
        ]
        let failures: [SaleError] = [
            .invalidRequest("bad"), .unknownSKU, .unknownReservation, .soldOut, .limitExceeded,
            .stockBelowSold(reservedAndCommitted: 9), .unavailable("later"), .staleMembership(shardEpoch: 12), .moved(epoch: 13),
            .notStarted(opensInMilliseconds: 86_400_000), .saleEnded,
        ] + ReservationRefusal.allCases.map { .refused($0) }
        outcomes += failures.map { .failure($0) }
        for status in ReservationStatus.allCases {
            var other = reservation
            other.status = status
            outcomes.append(.reservation(other))
        }
        for (index, outcome) in outcomes.enumerated() {
            messages.append(.forwardResponse(stream: UInt32.max - UInt32(index), .init(responderEpoch: -1, outcome: outcome)))
        }
        messages.append(.previousOwnerRequest(stream: 9, .init(hopLimit: 0, senderEpoch: 4, operation: operations[0], traceId: "0123456789abcdef")))
        let entries = ReservationStatus.allCases.enumerated().map { index, status in
            SKUSnapshot.Entry(
                id: "r\(index)", status: status, quantity: Int64(index + 1), expiresAtMilliseconds: 1_764_000_000_000,
                version: Int64(index), user: "ü\(index)", requestId: "q\(index)"
            )
        } + [
            SKUSnapshot.Entry(
                id: "rp", status: .reserved, quantity: 1, expiresAtMilliseconds: 1_764_000_000_000, version: 1, user: "cy", requestId: "cart.1",
                isCommitPrepared: true
            )
        ]
        messages.append(
            .handoffRequest(
                stream: 10,
                .init(
                    senderEpoch: 8, state: state, version: 21, transfers: "4|1:4:2:1764000000000|2:3,3:1", reservationCount: 10,
                    firstIndex: 5, reservations: entries
                )
            )
        )
        messages.append(
            .handoffRequest(stream: 11, .init(senderEpoch: 8, state: state, version: 0, reservationCount: 0, firstIndex: 0, reservations: []))
        )
        for outcome: HandoffAnswer.Outcome in [.continueFrom(next: 64), .imported, .refused("not mine")] {
            messages.append(.handoffResponse(stream: 12, .init(responderEpoch: 8, outcome: outcome)))
        }
        return messages
    }()

    @Test func everyMessageSurvivesTheRoundTrip() throws {
        for message in Self.samples {
            var buffer = PeerFrameCodec.encode(message)
            #expect(try PeerFrameCodec.decode(&buffer) == message)
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test func aHandoffChunkClaimingMoreReservationsThanItsSnapshotIsMalformed() throws {
        let chunk = HandoffChunk(
            senderEpoch: 1, state: Self.state, version: 1, reservationCount: 1, firstIndex: 1,
            reservations: [.init(id: "r", status: .reserved, quantity: 1, expiresAtMilliseconds: 0, version: 1, user: "u", requestId: "q")]
        )
        var buffer = PeerFrameCodec.encode(.handoffRequest(stream: 1, chunk))
        #expect(throws: PeerFrameError.self) { try PeerFrameCodec.decode(&buffer) }
    }

    /// The largest snapshots: 10,000 reservations with 128-byte strings split into chunks that each
    /// fit a frame, cover every reservation once and in order, and decode to themselves.
    @Test func aLargeSnapshotSplitsIntoChunksThatFitTheFrameLimit() throws {
        let long = String(repeating: "x", count: 128)
        let entries = (0..<10_000).map { index in
            SKUSnapshot.Entry(
                id: "\(index)-\(long)".prefix(128).description, status: .reserved, quantity: 1, expiresAtMilliseconds: 1,
                version: Int64(index), user: long, requestId: long
            )
        }
        let snapshot = SKUSnapshot(state: Self.state, version: 10_000, reservations: entries)
        let chunks = HandoffChunk.split(snapshot, senderEpoch: 3)
        #expect(chunks.count > 1)
        var reassembled: [SKUSnapshot.Entry] = []
        for chunk in chunks {
            #expect(chunk.firstIndex == UInt32(reassembled.count))
            #expect(chunk.reservationCount == 10_000)
            var buffer = PeerFrameCodec.encode(.handoffRequest(stream: 1, chunk))
            #expect(buffer.readableBytes - 4 <= PeerFrameCodec.maximumFrameLength)
            #expect(try PeerFrameCodec.decode(&buffer) == .handoffRequest(stream: 1, chunk))
            reassembled += chunk.reservations
        }
        #expect(reassembled == entries)
        #expect(HandoffChunk.split(SKUSnapshot(state: Self.state, version: 0, reservations: []), senderEpoch: 3).count == 1)
    }

    @Test func framesBackToBackDecodeOneAtATime() throws {
        var buffer = ByteBuffer()
        for message in Self.samples { PeerFrameCodec.encode(message, into: &buffer) }
        var decoded: [PeerMessage] = []
        while let message = try PeerFrameCodec.decode(&buffer) { decoded.append(message) }
        #expect(decoded == Self.samples)
    }

    /// Every prefix of a frame is "not yet", and leaves the bytes where they were.
    @Test func aTruncatedFrameWaitsForTheRest() throws {
        for message in Self.samples {
            let whole = PeerFrameCodec.encode(message)
            for length in 0..<whole.readableBytes {
                var prefix = whole.getSlice(at: 0, length: length)!
                #expect(try PeerFrameCodec.decode(&prefix) == nil)
                #expect(prefix.readableBytes == length)
            }
        }
    }

    /// A frame whose length field is shorter than its fields: the fields end early.
    @Test func aLengthThatCutsTheFieldsIsMalformed() throws {
        for message in Self.samples {
            var buffer = PeerFrameCodec.encode(message)
            let length = buffer.getInteger(at: 0, as: UInt32.self)!
            guard length > 3 else { continue }
            buffer.setInteger(length - 1, at: 0)
            #expect(throws: PeerFrameError.self) { try PeerFrameCodec.decode(&buffer) }
        }
    }

    @Test func anOversizedLengthIsRefusedBeforeItIsBuffered() {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(PeerFrameCodec.maximumFrameLength + 1))
        #expect(throws: PeerFrameError.badLength(PeerFrameCodec.maximumFrameLength + 1)) { try PeerFrameCodec.decode(&buffer) }
    }

    @Test func unknownVersionsKindsAndCodesAreRefused() {
        func frame(_ bytes: [UInt8]) -> ByteBuffer {
            var buffer = ByteBuffer()
            buffer.writeInteger(UInt32(bytes.count))
            buffer.writeBytes(bytes)
            return buffer
        }
        var version = frame([2, 5, 0, 0, 0, 0, 0, 0, 0, 0])
        #expect(throws: PeerFrameError.unsupportedVersion(2)) { try PeerFrameCodec.decode(&version) }
        var kind = frame([1, 99])
        #expect(throws: PeerFrameError.unknownKind(99)) { try PeerFrameCodec.decode(&kind) }
        var operation = frame([1, 2, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 1, 42])
        #expect(throws: PeerFrameError.self) { try PeerFrameCodec.decode(&operation) }
        var invalidUTF8 = frame([1, 7, 0, 2, 0xC3, 0x28])
        #expect(throws: PeerFrameError.self) { try PeerFrameCodec.decode(&invalidUTF8) }
        var trailing = frame([1, 5, 0, 0, 0, 0, 0, 0, 0, 1, 0xFF])
        #expect(throws: PeerFrameError.self) { try PeerFrameCodec.decode(&trailing) }
    }

    /// Fuzzing with a fixed seed: random bytes, and valid frames with random bytes changed or cut.
    /// The decoder must answer a message, "not yet" or an error, never crash or read out of bounds.
    @Test func randomAndMutatedFramesNeverCrashTheDecoder() {
        var random = SplitMix(seed: 0x5EED)
        var outcomes = (messages: 0, incomplete: 0, errors: 0)
        func attempt(_ bytes: [UInt8]) {
            var buffer = ByteBuffer(bytes: bytes)
            do {
                while let _ = try PeerFrameCodec.decode(&buffer) { outcomes.messages += 1 }
                outcomes.incomplete += 1
            } catch {
                outcomes.errors += 1
            }
        }
        for _ in 0..<20_000 {
            let count = Int(random.next() % 64)
            attempt((0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) })
        }
        let frames = Self.samples.map { Array(PeerFrameCodec.encode($0).readableBytesView) }
        for _ in 0..<20_000 {
            var bytes = frames[Int(random.next() % UInt64(frames.count))]
            for _ in 0..<(1 + random.next() % 3) {
                let index = Int(random.next() % UInt64(bytes.count))
                bytes[index] = UInt8(truncatingIfNeeded: random.next())
            }
            if random.next() % 4 == 0 { bytes = Array(bytes.prefix(Int(random.next() % UInt64(bytes.count)))) }
            attempt(bytes)
        }
        // The mutations reach every branch: some frames still decode, some wait, some are refused.
        #expect(outcomes.messages > 0 && outcomes.incomplete > 0 && outcomes.errors > 0, "\(outcomes)")
    }

    @Test func overlongTextIsCutToTheLimitAtACharacterBoundary() throws {
        let reason = String(repeating: "é", count: PeerFrameCodec.maximumStringLength)
        var buffer = PeerFrameCodec.encode(.goAway(reason: reason))
        guard case .goAway(let decoded) = try PeerFrameCodec.decode(&buffer) else {
            Issue.record("not a goAway")
            return
        }
        #expect(decoded.utf8.count <= PeerFrameCodec.maximumStringLength)
        #expect(reason.hasPrefix(decoded) && !decoded.isEmpty)
    }
}

/// A small deterministic generator, so a failing fuzz case can be replayed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
