import FlashSaleCore
import NIOCore

// New codes may be added in a later version; a decoder refuses codes it does not know.
enum OutcomeCode: UInt8 {
    case skuDefinition = 1, skuState, receipt, reservation, failure, transferTaken, transferDelivered
}

enum FailureCode: UInt8 {
    case invalidRequest = 1, unknownSKU, unknownReservation, soldOut, limitExceeded, stockBelowSold, refused,
        unavailable, staleMembership, moved, notStarted, saleEnded, archived
}

/// A refusal's reason on the wire: its index here.
let refusalCodes: [ReservationRefusal] = [.expired, .released, .committed]

/// Each outcome is its code, then its value; a failure is its `SaleError` code, then that case's fields.
extension ByteBuffer {
    mutating func writeOutcome(_ outcome: SaleOutcome) {
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

    mutating func readOutcome() throws(PeerFrameError) -> SaleOutcome {
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

    mutating func writeSKUState(_ state: SKUState) {
        self.writeText(state.sku)
        self.writeSettings(state.settings)
        self.writeInteger(state.reserved)
        self.writeInteger(state.committed)
        self.writeInteger(UInt8(state.isArchived ? 1 : 0))
    }

    mutating func readSKUState() throws(PeerFrameError) -> SKUState {
        let sku = try self.readText()
        let settings = try self.readSettings()
        let reserved = try self.read(Int64.self)
        let committed = try self.read(Int64.self)
        return SKUState(
            sku: sku,
            settings: settings,
            reserved: reserved,
            committed: committed,
            isArchived: try self.readFlag()
        )
    }

    mutating func writeReservation(_ reservation: Reservation) {
        self.writeText(reservation.id)
        self.writeText(reservation.sku)
        self.writeText(reservation.user)
        self.writeInteger(reservation.quantity)
        self.writeInteger(UInt8(statusCodes.firstIndex(of: reservation.status)!))
        self.writeInteger(reservation.expiresAtMilliseconds)
        self.writeText(reservation.requestId)
    }

    mutating func readReservation() throws(PeerFrameError) -> Reservation {
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

    mutating func writeFailure(_ error: SaleError) {
        switch error {
        case .invalidRequest(let message):
            self.writeInteger(FailureCode.invalidRequest.rawValue)
            self.writeText(message)
        case .unknownSKU: self.writeInteger(FailureCode.unknownSKU.rawValue)
        case .unknownReservation: self.writeInteger(FailureCode.unknownReservation.rawValue)
        case .soldOut: self.writeInteger(FailureCode.soldOut.rawValue)
        case .limitExceeded: self.writeInteger(FailureCode.limitExceeded.rawValue)
        case .notStarted(let opensIn):
            self.writeInteger(FailureCode.notStarted.rawValue)
            self.writeInteger(opensIn)
        case .saleEnded: self.writeInteger(FailureCode.saleEnded.rawValue)
        case .archived: self.writeInteger(FailureCode.archived.rawValue)
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

    mutating func readFailure() throws(PeerFrameError) -> SaleError {
        switch try self.readCode(FailureCode.self) {
        case .invalidRequest: return .invalidRequest(try self.readText())
        case .unknownSKU: return .unknownSKU
        case .unknownReservation: return .unknownReservation
        case .soldOut: return .soldOut
        case .limitExceeded: return .limitExceeded
        case .notStarted: return .notStarted(opensInMilliseconds: try self.read(Int64.self))
        case .saleEnded: return .saleEnded
        case .archived: return .archived
        case .stockBelowSold: return .stockBelowSold(reservedAndCommitted: try self.read(Int64.self))
        case .refused: return .refused(try self.readIndexed(refusalCodes, "refusal"))
        case .unavailable: return .unavailable(try self.readText())
        case .staleMembership: return .staleMembership(shardEpoch: try self.read(Int64.self))
        case .moved: return .moved(epoch: try self.read(Int64.self))
        }
    }
}
