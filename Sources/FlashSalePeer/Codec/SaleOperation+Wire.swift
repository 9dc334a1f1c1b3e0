import FlashSaleCore
import NIOCore

// New codes may be added in a later version; a decoder refuses codes it does not know.
enum OperationCode: UInt8 {
    case defineSKU = 1, skuState, reserve, reservation, commit, release, takeForTransfer, receiveTransfer, finishTransfer, closeSKU,
        prepareCommit, cartRelease
}

/// Each operation is its code, then its fields in the order of the case's associated values.
extension ByteBuffer {
    mutating func writeOperation(_ operation: SaleOperation) {
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
        case .prepareCommit(let sku, let id):
            self.writeInteger(OperationCode.prepareCommit.rawValue)
            self.writeText(sku)
            self.writeText(id)
        case .cartRelease(let sku, let id):
            self.writeInteger(OperationCode.cartRelease.rawValue)
            self.writeText(sku)
            self.writeText(id)
        case .closeSKU(let sku):
            self.writeInteger(OperationCode.closeSKU.rawValue)
            self.writeText(sku)
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

    mutating func readOperation() throws(PeerFrameError) -> SaleOperation {
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
        case .prepareCommit:
            return .prepareCommit(sku: try self.readText(), id: try self.readText())
        case .cartRelease:
            return .cartRelease(sku: try self.readText(), id: try self.readText())
        case .closeSKU:
            return .closeSKU(sku: try self.readText())
        case .takeForTransfer:
            return .takeForTransfer(sku: try self.readText(), recipient: try self.readBucketIndex())
        case .receiveTransfer:
            return .receiveTransfer(sku: try self.readText(), try self.readTransfer())
        case .finishTransfer:
            return .finishTransfer(sku: try self.readText(), try self.readTransfer())
        }
    }

    mutating func writeSettings(_ settings: SKUSettings) {
        self.writeInteger(settings.stock)
        self.writeInteger(settings.perUserLimit)
        self.writeInteger(settings.reservationTtlSeconds)
        self.writeInteger(settings.buckets)
        self.writeOptionalInteger(settings.startsAtMilliseconds)
        self.writeOptionalInteger(settings.endsAtMilliseconds)
    }

    mutating func readSettings() throws(PeerFrameError) -> SKUSettings {
        let stock = try self.read(Int64.self)
        let limit = try self.read(Int64.self)
        let ttl = try self.read(Int64.self)
        let buckets = try self.read(Int64.self)
        let startsAt = try self.readOptionalInteger()
        return SKUSettings(
            stock: stock, perUserLimit: limit, reservationTtlSeconds: ttl, buckets: buckets,
            startsAtMilliseconds: startsAt, endsAtMilliseconds: try self.readOptionalInteger()
        )
    }

    /// A presence flag (0 or 1), then the value when present.
    mutating func writeOptionalInteger(_ value: Int64?) {
        self.writeInteger(UInt8(value == nil ? 0 : 1))
        if let value { self.writeInteger(value) }
    }

    mutating func readOptionalInteger() throws(PeerFrameError) -> Int64? {
        try self.readFlag() ? try self.read(Int64.self) : nil
    }

    mutating func writeTransfer(_ transfer: PendingTransfer) {
        self.writeInteger(Int64(transfer.donor))
        self.writeInteger(Int64(transfer.recipient))
        self.writeInteger(transfer.sequence)
        self.writeInteger(transfer.units)
    }

    mutating func readTransfer() throws(PeerFrameError) -> PendingTransfer {
        let donor = try self.readBucketIndex()
        let recipient = try self.readBucketIndex()
        let sequence = try self.read(Int64.self)
        return PendingTransfer(donor: donor, recipient: recipient, sequence: sequence, units: try self.read(Int64.self))
    }

    mutating func readBucketIndex() throws(PeerFrameError) -> Int {
        let index = try self.read(Int64.self)
        guard index >= 0, index < SKUBuckets.maximum else { throw .malformed("bucket index \(index)") }
        return Int(index)
    }
}
