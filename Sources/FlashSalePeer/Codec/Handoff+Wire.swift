import FlashSaleCore
import NIOCore

// New codes may be added in a later version; a decoder refuses codes it does not know.
enum HandoffOutcomeCode: UInt8 {
    case continueFrom = 1, imported, refused
}

/// `handoffRequest` carries a chunk of a frozen SKU's snapshot, `handoffResponse` the answer.
extension ByteBuffer {
    mutating func writeHandoffChunk(_ chunk: HandoffChunk) {
        self.writeInteger(chunk.senderEpoch)
        self.writeSKUState(chunk.state)
        self.writeInteger(chunk.version)
        self.writeText(chunk.transfers)
        self.writeInteger(chunk.reservationCount)
        self.writeInteger(chunk.firstIndex)
        self.writeInteger(UInt16(chunk.reservations.count))
        for entry in chunk.reservations {
            self.writeText(entry.id)
            let status = EntryStatus(status: entry.status, isCommitPrepared: entry.isCommitPrepared)
            self.writeInteger(UInt8(entryStatusCodes.firstIndex(of: status)!))
            self.writeInteger(entry.quantity)
            self.writeInteger(entry.expiresAtMilliseconds)
            self.writeInteger(entry.version)
            self.writeText(entry.user)
            self.writeText(entry.requestId)
        }
    }

    mutating func readHandoffChunk() throws(PeerFrameError) -> HandoffChunk {
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
            let status = try self.readIndexed(entryStatusCodes, "reservation status")
            let quantity = try self.read(Int64.self)
            let expiresAt = try self.read(Int64.self)
            let entryVersion = try self.read(Int64.self)
            let user = try self.readText()
            entries.append(
                .init(
                    id: id,
                    status: status.status,
                    quantity: quantity,
                    expiresAtMilliseconds: expiresAt,
                    version: entryVersion,
                    user: user,
                    requestId: try self.readText(),
                    isCommitPrepared: status.isCommitPrepared
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

    mutating func writeHandoffAnswer(_ answer: HandoffAnswer) {
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

    mutating func readHandoffAnswer() throws(PeerFrameError) -> HandoffAnswer {
        let epoch = try self.read(Int64.self)
        let outcome: HandoffAnswer.Outcome
        switch try self.readCode(HandoffOutcomeCode.self) {
        case .continueFrom: outcome = .continueFrom(next: try self.read(UInt32.self))
        case .imported: outcome = .imported
        case .refused: outcome = .refused(try self.readText())
        }
        return HandoffAnswer(responderEpoch: epoch, outcome: outcome)
    }
}
