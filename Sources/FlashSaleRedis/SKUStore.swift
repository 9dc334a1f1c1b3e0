public import FlashSaleCore
import Foundation
public import Logging
import Metrics
import Synchronization

/// The sale operations of one Redis shard. Every change is one Lua script call, so each is atomic
/// and appends its outbox event in the same call.
public final class SKUStore: SaleOperations {
    public let scripts: ScriptRunner
    private let logger: Logger
    /// A shard that is down fails every call: one warning a second says so.
    private let warnings = ThrottledWarnings()
    /// The membership epoch this store's calls carry (the shard refuses calls older than the
    /// newest epoch it has been told of). A store that is its shard's only writer, in tests and
    /// tools, is unfenced: `Int64.max`.
    private let callerEpoch: @Sendable () -> Int64
    private let reservationOutcomes: [String: Counter]
    /// Sold-out answers from memory, when `answersSoldOutFromMemory`: only on the store of a node's
    /// own shard (an adopted shard's owner may come back and write to it at any time).
    private let soldOutMemo: Mutex<SoldOutMemo>
    private let answersSoldOutFromMemory: Bool
    private let soldOutFromMemory = Counter(label: "flashsale_sold_out_from_memory_total")
    private let clock: any ServiceClock
    /// A hot SKU's reservations that queue behind its call in flight go to Redis together
    /// (reserve_many.lua), answered each on its own.
    private let reserveQueue = Mutex(CombiningQueue<QueuedReserve>(batchMax: 256, waitingMax: 8192))

    public init(
        scripts: ScriptRunner,
        logger: Logger,
        callerEpoch: @escaping @Sendable () -> Int64 = { .max },
        soldOutMemo: SoldOutMemo.Settings? = nil,
        clock: any ServiceClock = SystemClock()
    ) {
        self.scripts = scripts
        self.logger = logger
        self.callerEpoch = callerEpoch
        self.soldOutMemo = Mutex(SoldOutMemo(settings: soldOutMemo ?? .init()))
        self.answersSoldOutFromMemory = soldOutMemo != nil
        self.clock = clock
        var outcomes: [String: Counter] = [:]
        for outcome in ["created", "repeated", "sold_out", "limit_exceeded", "not_started", "sale_ended", "unknown_sku", "outbox_full", "unavailable"] {
            outcomes[outcome] = Counter(label: "flashsale_reservations_total", dimensions: [("outcome", outcome)])
        }
        self.reservationOutcomes = outcomes
    }

    public func run(_ operation: SaleOperation) async -> SaleOutcome {
        await self.run(operation, mayCreate: true)
    }

    /// Each operation's script call, after the sold-out memo where there is one: a reserve of a
    /// memoised SKU by a requestId it has never seen is answered from memory; any other operation
    /// ends the SKU's memo before it is sent and again once it is answered.
    /// `mayCreate` false makes a define only update a SKU this shard holds (see
    /// `defineSKU(_:settings:mayCreate:)`).
    public func run(_ operation: SaleOperation, mayCreate: Bool) async -> SaleOutcome {
        guard self.answersSoldOutFromMemory else { return await self.runScript(operation, mayCreate: mayCreate) }
        let sku = operation.sku
        guard case .reserve(_, _, _, let requestId) = operation else {
            self.forgetSoldOut(sku)
            defer { self.forgetSoldOut(sku) }
            return await self.runScript(operation, mayCreate: mayCreate)
        }
        let epoch = self.callerEpoch()
        let now = self.clock.now
        if self.soldOutMemo.withLock({ $0.answer(sku: sku, requestId: requestId, epoch: epoch, now: now) }) == .soldOut {
            self.reservationOutcomes["sold_out"]?.increment()
            self.soldOutFromMemory.increment()
            return .failure(.soldOut)
        }
        let outcome = await self.runScript(operation, mayCreate: mayCreate)
        switch outcome {
        case .failure(.soldOut):
            await self.snapshotSoldOut(sku)
        case .failure(.limitExceeded):
            break
        default:
            // Created, repeated, or unknown (a lost connection may have created it).
            self.forgetSoldOut(sku)
        }
        return outcome
    }

    /// Redis answered `sold_out`: takes the snapshot the memo asks for, if it asks for one.
    private func snapshotSoldOut(_ sku: String) async {
        let sentAt = self.clock.now
        guard let token = self.soldOutMemo.withLock({ $0.soldOutAnswered(sku: sku, now: sentAt) }) else { return }
        let epoch = self.callerEpoch()
        do throws(SaleError) {
            let fields = try Self.fields(try await self.run(.soldOut, [sku]))
            let snapshot: SoldOutMemo.Snapshot
            if fields[0].string == "sold_out", fields.count >= 2, let dueIn = fields[1].integer {
                snapshot = .soldOut(
                    requestIds: Set(fields.dropFirst(2).compactMap(\.string)),
                    firstDueIn: dueIn < 0 ? nil : .milliseconds(dueIn)
                )
            } else {
                snapshot = .notSoldOut
            }
            self.soldOutMemo.withLock { $0.snapshotTaken(sku: sku, token: token, epoch: epoch, sentAt: sentAt, snapshot) }
        } catch {
            self.soldOutMemo.withLock { $0.snapshotFailed(sku: sku, token: token) }
        }
    }

    /// Ends `sku`'s sold-out memo: something other than a refused reserve happens to it.
    private func forgetSoldOut(_ sku: String) {
        guard self.answersSoldOutFromMemory else { return }
        self.soldOutMemo.withLock { $0.changing(sku) }
    }

    private func runScript(_ operation: SaleOperation, mayCreate: Bool) async -> SaleOutcome {
        do throws(SaleError) {
            switch operation {
            case .defineSKU(let sku, let settings):
                return .skuDefinition(try await self.defineSKU(sku, settings: settings, mayCreate: mayCreate))
            case .skuState(let sku):
                return .skuState(try await self.skuState(sku))
            case .reserve(let sku, let user, let quantity, let requestId):
                return .receipt(try await self.reserve(sku: sku, user: user, quantity: quantity, requestId: requestId))
            case .reservation(let sku, let id):
                return .reservation(try await self.reservation(sku: sku, id: id))
            case .commit(let sku, let id):
                return .reservation(try await self.commit(sku: sku, id: id))
            case .release(let sku, let id):
                return .reservation(try await self.release(sku: sku, id: id))
            case .prepareCommit(let sku, let id):
                return .reservation(try await self.prepareCommit(sku: sku, id: id))
            case .cartRelease(let sku, let id):
                return .reservation(try await self.cartRelease(sku: sku, id: id))
            case .closeSKU(let sku):
                return .skuState(try await self.closeSKU(sku))
            case .takeForTransfer(let sku, let recipient):
                return .transferTaken(try await self.takeForTransfer(donor: sku, recipient: recipient))
            case .receiveTransfer(let sku, let transfer):
                return .transferDelivered(isNew: try await self.receiveTransfer(recipient: sku, transfer))
            case .finishTransfer(let sku, let transfer):
                try await self.finishTransfer(donor: sku, transfer)
                return .transferDelivered(isNew: true)
            }
        } catch {
            return .failure(error)
        }
    }

    public func defineSKU(_ sku: String, settings: SKUSettings) async throws(SaleError) -> SKUDefinition {
        try await self.defineSKU(sku, settings: settings, mayCreate: true)
    }

    /// `mayCreate` false only updates a SKU this shard holds (`unknownSKU` otherwise): the new
    /// owner of a SKU in a handoff asks the previous owner to update it if it is still there.
    public func defineSKU(_ sku: String, settings: SKUSettings, mayCreate: Bool) async throws(SaleError) -> SKUDefinition {
        let reply = try await self.run(
            .define,
            [
                sku, String(settings.stock), String(settings.perUserLimit), String(settings.reservationTtlSeconds),
                mayCreate ? "create" : "update", String(settings.buckets),
                settings.startsAtMilliseconds.map { String($0) } ?? "", settings.endsAtMilliseconds.map { String($0) } ?? "",
            ]
        )
        let fields = try Self.fields(reply)
        switch fields.first?.string {
        case "created", "updated":
            return SKUDefinition(state: try Self.skuState(sku, fields), isNew: fields[0].string == "created")
        case "unknown_sku": throw .unknownSKU
        case "stock_below_sold":
            throw .stockBelowSold(reservedAndCommitted: fields.count > 1 ? fields[1].integer ?? 0 : 0)
        case "buckets_fixed":
            let buckets = fields.count > 1 ? fields[1].integer ?? 1 : 1
            throw .invalidRequest("\(sku) is defined with \(buckets) bucket(s); the number of buckets is fixed once a SKU is defined")
        case "archived":
            throw .archived
        case "split_fixed":
            throw .invalidRequest("\(sku) is split over buckets: its stock, perUserLimit, reservationTtlSeconds, startsAt and endsAt are fixed once defined")
        case "outbox_full":
            throw Self.outboxFull
        default:
            throw Self.unexpected(.define, reply)
        }
    }

    /// Ends `sku`'s sale now, on the shard's clock (`close.lua`).
    public func closeSKU(_ sku: String) async throws(SaleError) -> SKUState {
        try await self.skuState(sku, script: .close, answeredAs: "closed")
    }

    public func skuState(_ sku: String) async throws(SaleError) -> SKUState {
        try await self.skuState(sku, script: .sku, answeredAs: "ok")
    }

    /// A script that answers the SKU's state (`sku_reply`) with outcome `answer`, or `unknown_sku`.
    private func skuState(_ sku: String, script: RedisScript.Name, answeredAs answer: String) async throws(SaleError) -> SKUState {
        let reply = try await self.run(script, [sku])
        let fields = try Self.fields(reply)
        switch fields.first?.string {
        case answer: return try Self.skuState(sku, fields)
        case "unknown_sku": throw .unknownSKU
        default: throw Self.unexpected(script, reply)
        }
    }

    public func reserve(
        sku: String,
        user: String,
        quantity: Int64,
        requestId: String
    ) async throws(SaleError) -> ReservationReceipt {
        let reply: RedisReply
        do {
            var id = Self.newReservationID()
            if let bucket = SKUBuckets.parse(sku)?.bucket { id = SKUBuckets.reservationID(id, bucket: bucket) }
            reply = try await self.combinedReserve(sku: sku, arguments: [user, String(quantity), requestId, id])
        } catch {
            self.reservationOutcomes["unavailable"]?.increment()
            throw error
        }
        let fields = try Self.fields(reply)
        let outcome = fields.first?.string ?? ""
        self.reservationOutcomes[outcome]?.increment()
        switch outcome {
        case "created", "repeated":
            return ReservationReceipt(
                reservation: try Self.reservation(sku, fields.dropFirst()),
                isNew: outcome == "created"
            )
        case "sold_out": throw .soldOut
        case "limit_exceeded": throw .limitExceeded
        case "not_started": throw .notStarted(opensInMilliseconds: fields.count > 1 ? fields[1].integer ?? 0 : 0)
        case "sale_ended": throw .saleEnded
        case "archived": throw .archived
        case "unknown_sku": throw .unknownSKU
        case "outbox_full": throw Self.outboxFull
        case "split": throw .unavailable("\(sku) is split over buckets; reserve in the user's bucket")
        default: throw Self.unexpected(.reserve, reply)
        }
    }

    /// One reservation waiting behind its SKU's call in flight: its script arguments (user,
    /// quantity, requestId, id) and where its turn comes.
    struct QueuedReserve: Sendable {
        var arguments: [String]
        var continuation: CheckedContinuation<QueuedStep, Never>
    }

    enum QueuedStep: Sendable {
        /// Send the next call: this reservation and `others`.
        case lead(others: [QueuedReserve])
        case answered(Result<RedisReply, SaleError>)
    }

    /// The reply of reserve.lua for one reservation, sent alone when its SKU has no call in flight
    /// and otherwise with the others that queued behind that call.
    private func combinedReserve(sku: String, arguments: [String]) async throws(SaleError) -> RedisReply {
        let step = await withCheckedContinuation { (continuation: CheckedContinuation<QueuedStep, Never>) in
            let arrival = self.reserveQueue.withLock { $0.arrive(sku: sku, QueuedReserve(arguments: arguments, continuation: continuation)) }
            switch arrival {
            case .lead: continuation.resume(returning: .lead(others: []))
            case .wait: break
            case .full: continuation.resume(returning: .answered(.failure(.unavailable("too many reservations are waiting for this SKU's shard"))))
            }
        }
        switch step {
        case .answered(let result):
            return try result.get()
        case .lead(let others):
            let results = await self.reserveTogether(sku: sku, [arguments] + others.map(\.arguments))
            // Hand the SKU to the next call before answering this one's reservations.
            let next = self.reserveQueue.withLock { $0.finished(sku: sku) }
            if let first = next.first { first.continuation.resume(returning: .lead(others: Array(next.dropFirst()))) }
            for (waiter, result) in zip(others, results.dropFirst()) { waiter.continuation.resume(returning: .answered(result)) }
            return try results[0].get()
        }
    }

    /// One script call for `batch` (each: user, quantity, requestId, id), one result each.
    private func reserveTogether(sku: String, _ batch: [[String]]) async -> [Result<RedisReply, SaleError>] {
        do throws(SaleError) {
            if batch.count == 1 { return [.success(try await self.run(.reserve, [sku] + batch[0]))] }
            let reply = try await self.run(.reserveMany, [sku] + batch.flatMap { $0 })
            guard let items = reply.array, !items.isEmpty else { throw Self.unexpected(.reserveMany, reply) }
            if items[0].array == nil {
                // Refused as a whole (unknown or split SKU): each reservation gets that answer.
                return Array(repeating: .success(reply), count: batch.count)
            }
            guard items.count == batch.count else { throw Self.unexpected(.reserveMany, reply) }
            return items.map { .success($0) }
        } catch {
            return Array(repeating: .failure(error), count: batch.count)
        }
    }

    public func reservation(sku: String, id: String) async throws(SaleError) -> Reservation {
        try await self.resolve(.read, sku: sku, id: id)
    }

    public func commit(sku: String, id: String) async throws(SaleError) -> Reservation {
        try await self.resolve(.commit, sku: sku, id: id)
    }

    public func release(sku: String, id: String) async throws(SaleError) -> Reservation {
        try await self.resolve(.release, sku: sku, id: id)
    }

    /// A cart's first half of a commit: the reservation no longer expires or releases (`ReservationCommand.prepareCommit`).
    public func prepareCommit(sku: String, id: String) async throws(SaleError) -> Reservation {
        try await self.resolve(.prepareCommit, sku: sku, id: id)
    }

    /// A cart's release of its item, prepared for the cart's commit or not (`ReservationCommand.cartRelease`).
    public func cartRelease(sku: String, id: String) async throws(SaleError) -> Reservation {
        try await self.resolve(.cartRelease, sku: sku, id: id)
    }

    // MARK: Transfers between the buckets of a split SKU

    /// Takes half the available stock of bucket `donor` for bucket `recipient`, or answers the
    /// donor's unfinished transfer (to whichever recipient); nil when the donor has nothing to give.
    public func takeForTransfer(donor: String, recipient: Int) async throws(SaleError) -> PendingTransfer? {
        guard let donorIndex = SKUBuckets.parse(donor)?.bucket else { throw .invalidRequest("\(donor) is not a bucket") }
        let reply = try await self.run(.transferOut, [donor, String(recipient)])
        let fields = try Self.fields(reply)
        switch fields.first?.string {
        case "pending":
            guard fields.count == 4, let to = fields[1].integer, let sequence = fields[2].integer, let units = fields[3].integer else {
                throw Self.unexpected(.transferOut, reply)
            }
            return PendingTransfer(donor: donorIndex, recipient: Int(to), sequence: sequence, units: units)
        case "empty": return nil
        case "unknown_sku": throw .unknownSKU
        default: throw Self.unexpected(.transferOut, reply)
        }
    }

    /// Adds a transfer's units to its recipient bucket `recipient`; false when it had them already.
    public func receiveTransfer(recipient: String, _ transfer: PendingTransfer) async throws(SaleError) -> Bool {
        let reply = try await self.run(
            .transferIn,
            [recipient, String(transfer.donor), String(transfer.sequence), String(transfer.units)]
        )
        switch try Self.fields(reply).first?.string {
        case "applied": return true
        case "already": return false
        case "unknown_sku": throw .unknownSKU
        default: throw Self.unexpected(.transferIn, reply)
        }
    }

    /// The donor bucket `donor` forgets a transfer its recipient has taken.
    public func finishTransfer(donor: String, _ transfer: PendingTransfer) async throws(SaleError) {
        let reply = try await self.run(.transferDone, [donor, String(transfer.sequence)])
        switch try Self.fields(reply).first?.string {
        case "done": return
        case "unknown_sku": throw .unknownSKU
        default: throw Self.unexpected(.transferDone, reply)
        }
    }

    /// This shard's transfers out unfinished for at least `olderThanMilliseconds`, by donor bucket.
    public func unfinishedTransfers(olderThanMilliseconds: Int64) async throws(SaleError) -> [(donor: String, transfer: PendingTransfer)] {
        let reply = try await self.runUnfenced(.pending, [String(olderThanMilliseconds)])
        guard let fields = reply.array, fields.count % 4 == 0 else { throw Self.unexpected(.pending, reply) }
        return try stride(from: 0, to: fields.count, by: 4).map { (start: Int) throws(SaleError) in
            guard let donor = fields[start].string, let donorIndex = SKUBuckets.parse(donor)?.bucket,
                let recipient = fields[start + 1].integer, let sequence = fields[start + 2].integer, let units = fields[start + 3].integer
            else { throw Self.unexpected(.pending, reply) }
            return (donor, PendingTransfer(donor: donorIndex, recipient: Int(recipient), sequence: sequence, units: units))
        }
    }

    /// Expires due reservations across the shard; returns how many it expired.
    public func sweep(skusPerCall: Int, reservationsPerSKU: Int) async throws(SaleError) -> Int {
        let reply = try await self.run(.sweep, [String(skusPerCall), String(reservationsPerSKU)])
        guard let expired = reply.integer else { throw Self.unexpected(.sweep, reply) }
        return Int(expired)
    }

    // MARK: Archiving

    /// Up to `limit` SKUs here whose sale has ended and whose reservations are all resolved, with
    /// the version each is at: the archiver's candidates (`archivable.lua`).
    public func archivable(limit: Int) async throws(SaleError) -> [(sku: String, version: Int64)] {
        let reply = try await self.runUnfenced(.archivable, [String(limit)])
        guard let fields = reply.array, fields.count % 2 == 0 else { throw Self.unexpected(.archivable, reply) }
        return try stride(from: 0, to: fields.count, by: 2).map { (start: Int) throws(SaleError) in
            guard let sku = fields[start].string, let version = fields[start + 1].integer else { throw Self.unexpected(.archivable, reply) }
            return (sku, version)
        }
    }

    public enum ArchiveOutcome: Sendable, Hashable {
        case archived(version: Int64)
        /// Not now: the sale is open, the SKU changed since `archivable`, a reservation is held, or
        /// the record does not hold every reservation as the shard does yet.
        case notReady(String)
    }

    /// Archives `sku` if it is still at `version` and the record holds `recordCount` of its
    /// reservations whose versions add up to `recordVersionSum`, as the shard does (`archive.lua`).
    public func archive(_ sku: String, version: Int64, recordCount: Int64, recordVersionSum: Int64) async throws(SaleError) -> ArchiveOutcome {
        self.forgetSoldOut(sku)
        let reply = try await self.run(.archive, [sku, String(version), String(recordCount), String(recordVersionSum)])
        let fields = try Self.fields(reply)
        switch fields.first?.string {
        case "archived":
            guard fields.count == 2, let version = fields[1].integer else { throw Self.unexpected(.archive, reply) }
            return .archived(version: version)
        case "not_ready":
            return .notReady(fields.count > 1 ? fields[1].string ?? "" : "")
        case "unknown_sku": throw .unknownSKU
        default: throw Self.unexpected(.archive, reply)
        }
    }

    /// How many SKUs on this shard are archived.
    public func archivedCount() async throws(SaleError) -> Int64 {
        let reply = try await self.send(["SCARD", SKUKeys.archived])
        guard let count = reply.integer else { throw Self.unexpected("SCARD", reply) }
        return count
    }

    /// How many SKUs are defined on this shard (the set that define.lua keeps).
    public func skuCount() async throws(SaleError) -> Int64 {
        let reply = try await self.send(["SCARD", SKUKeys.skuIndex])
        guard let count = reply.integer else { throw Self.unexpected("SCARD", reply) }
        return count
    }

    // MARK: Handoff

    /// What `exportForHandoff` found.
    public enum Export: Sendable, Hashable {
        /// Frozen now or earlier, not yet acknowledged by the new owner.
        case snapshot(SKUSnapshot)
        /// Never held here.
        case absent
        /// Left at membership epoch `epoch`, and the new owner acknowledged it.
        case gone(epoch: Int64)
    }

    /// Freezes `sku` (every later script on it answers `moved`) and returns its whole state.
    /// Repeatable: a frozen SKU answers the same snapshot until `finishHandoff`.
    public func exportForHandoff(_ sku: String) async throws(SaleError) -> Export {
        self.forgetSoldOut(sku)
        defer { self.forgetSoldOut(sku) }
        let reply = try await self.run(.export, [sku])
        let fields = try Self.fields(reply)
        switch fields.first?.string {
        case "absent":
            return .absent
        case "gone":
            return .gone(epoch: fields.count > 1 ? fields[1].integer ?? 0 : 0)
        case "snapshot":
            let header = 12
            guard fields.count >= header, (fields.count - header) % 7 == 0, let transfers = fields[11].string else {
                throw Self.unexpected(.export, reply)
            }
            let numbers = fields[1..<11].compactMap { $0.string.flatMap { Int64($0) } }
            guard numbers.count == 10 else { throw Self.unexpected(.export, reply) }
            let settings = SKUSettings(
                stock: numbers[0], perUserLimit: numbers[3], reservationTtlSeconds: numbers[4], buckets: numbers[6],
                startsAtMilliseconds: Self.windowEnd(numbers[7]), endsAtMilliseconds: Self.windowEnd(numbers[8])
            )
            var entries: [SKUSnapshot.Entry] = []
            entries.reserveCapacity((fields.count - header) / 7)
            for start in stride(from: header, to: fields.count, by: 7) {
                let text = fields[start..<start + 7].map { $0.string }
                // "prepared": reserved, prepared for a cart's commit (export.lua).
                let isCommitPrepared = text[1] == "prepared"
                guard let id = text[0], let status = isCommitPrepared ? .reserved : text[1].flatMap(ReservationStatus.init(rawValue:)),
                    let quantity = text[2].flatMap({ Int64($0) }), let expiresAt = text[3].flatMap({ Int64($0) }),
                    let version = text[4].flatMap({ Int64($0) }), let user = text[5], let requestId = text[6]
                else { throw Self.unexpected(.export, reply) }
                entries.append(.init(
                    id: id, status: status, quantity: quantity, expiresAtMilliseconds: expiresAt,
                    version: version, user: user, requestId: requestId, isCommitPrepared: isCommitPrepared
                ))
            }
            let state = SKUState(sku: sku, settings: settings, reserved: numbers[1], committed: numbers[2], isArchived: numbers[9] != 0)
            return .snapshot(SKUSnapshot(state: state, version: numbers[5], transfers: transfers, reservations: entries))
        default:
            throw Self.unexpected(.export, reply)
        }
    }

    /// Installs a SKU handed over by its previous owner. False when this shard already has it at
    /// that version or newer (an import repeated after a lost acknowledgement): nothing changes.
    @discardableResult
    public func importHandoff(_ snapshot: SKUSnapshot) async throws(SaleError) -> Bool {
        let state = snapshot.state
        self.forgetSoldOut(state.sku)
        defer { self.forgetSoldOut(state.sku) }
        var arguments = [
            state.sku, String(state.settings.stock), String(state.reserved), String(state.committed),
            String(state.settings.perUserLimit), String(state.settings.reservationTtlSeconds), String(snapshot.version),
            String(state.settings.buckets), String(state.settings.startsAtMilliseconds ?? 0),
            String(state.settings.endsAtMilliseconds ?? 0), state.isArchived ? String(snapshot.version) : "0", snapshot.transfers,
        ]
        arguments.reserveCapacity(arguments.count + snapshot.reservations.count * 7 + 1)
        for entry in snapshot.reservations {
            arguments += [
                entry.id, entry.isCommitPrepared ? "prepared" : entry.status.rawValue, String(entry.quantity), String(entry.expiresAtMilliseconds),
                String(entry.version), entry.user, entry.requestId,
            ]
        }
        let reply = try await self.run(.importSnapshot, arguments)
        switch try Self.fields(reply).first?.string {
        case "imported": return true
        case "already": return false
        default: throw Self.unexpected(.importSnapshot, reply)
        }
    }

    /// The new owner has the SKU: drops its frozen state here, keeping the marker that it moved.
    public func finishHandoff(_ sku: String) async throws(SaleError) {
        _ = try await self.runUnfenced(.handed, [sku])
    }

    /// Every SKU this shard holds or is handing over: what a handoff plan starts from.
    public func heldSKUs() async throws(SaleError) -> [String] {
        let reply = try await self.send(["SUNION", SKUKeys.skuIndex, SKUKeys.moving])
        guard let members = reply.array else { throw Self.unexpected("SUNION", reply) }
        return members.compactMap(\.string)
    }

    private func resolve(_ script: RedisScript.Name, sku: String, id: String) async throws(SaleError) -> Reservation {
        let reply = try await self.run(script, [sku, id])
        let fields = try Self.fields(reply)
        switch fields.first?.string {
        case "ok":
            return try Self.reservation(sku, fields.dropFirst())
        case "refused":
            switch fields.count > 1 ? fields[1].string.flatMap(ReservationRefusal.init(rawValue:)) : nil {
            case .some(let refusal): throw .refused(refusal)
            case .none: throw Self.unexpected(script, reply)
            }
        case "unknown_reservation":
            throw .unknownReservation
        case "archived":
            throw .archived
        default:
            throw Self.unexpected(script, reply)
        }
    }

    /// Runs a SKU script with the caller's epoch as its last argument; a refusal by the fence is
    /// `staleMembership` whatever the script.
    private func run(_ script: RedisScript.Name, _ arguments: [String]) async throws(SaleError) -> RedisReply {
        let reply: RedisReply
        do {
            let epoch = self.callerEpoch()
            reply = try await self.scripts.run(script, arguments + [epoch == .max ? "unfenced" : String(epoch)])
        } catch {
            self.warnings.warning(self.logger, "Redis call failed", key: script.rawValue, metadata: ["script": "\(script.rawValue)", "error": "\(error)"])
            throw .unavailable(Self.describe(error))
        }
        if let fields = reply.array, fields.count == 2, let epoch = fields[1].integer {
            switch fields[0].string {
            case "stale_epoch": throw .staleMembership(shardEpoch: epoch)
            case "moved": throw .moved(epoch: epoch)
            default: break
            }
        }
        return reply
    }

    /// Runs a script that takes no caller epoch (shard bookkeeping, not a SKU's sale).
    private func runUnfenced(_ script: RedisScript.Name, _ arguments: [String]) async throws(SaleError) -> RedisReply {
        do {
            return try await self.scripts.run(script, arguments)
        } catch {
            throw .unavailable(Self.describe(error))
        }
    }

    /// Sends one plain Redis command.
    private func send(_ command: [String]) async throws(SaleError) -> RedisReply {
        do {
            return try await self.scripts.client.send(command)
        } catch {
            throw .unavailable(Self.describe(error))
        }
    }

    /// Tells the shard of membership epoch `epoch`; answers the shard's epoch afterwards (never lower).
    @discardableResult
    public func recordEpoch(_ epoch: Int64) async throws(SaleError) -> Int64 {
        let reply = try await self.runUnfenced(.epoch, [String(epoch)])
        guard let recorded = reply.integer else { throw Self.unexpected(.epoch, reply) }
        return recorded
    }

    static let outboxFull = SaleError.unavailable(
        "the record is behind (PostgreSQL has not taken this shard's changes for a while); retry later"
    )

    /// Entries in this shard's outbox that the record has not taken yet.
    public func outboxLength() async throws(SaleError) -> Int64 {
        let reply = try await self.send(["XLEN", SKUKeys.outbox])
        guard let length = reply.integer else { throw .unavailable("XLEN \(SKUKeys.outbox) answered \(reply)") }
        return length
    }

    /// Sets how many outbox entries the shard may hold before `define` and `reserve` are refused.
    public func setOutboxLimit(_ limit: Int) async throws(SaleError) {
        _ = try await self.send(["SET", SKUKeys.outboxLimit, String(limit)])
    }

    private static func describe(_ error: RedisClientError) -> String {
        switch error {
        case .notConnected: "the SKU's Redis shard is not reachable"
        case .connectionLost: "the connection to the SKU's Redis shard broke; retry with the same requestId"
        case .overloaded: "too many requests are waiting for the SKU's Redis shard"
        case .stopped: "the connection to the SKU's shard was closed (the node is shutting down, or gave an adopted shard back); retry with the same requestId"
        case .unexpectedReply(let text): "the SKU's Redis shard answered unexpectedly: \(text)"
        case .notReplicated(let why): "the SKU's Redis shard has no replica up to date (\(why)); retry with the same requestId"
        }
    }

    private static func unexpected(_ script: RedisScript.Name, _ reply: RedisReply) -> SaleError {
        Self.unexpected("\(script.rawValue).lua", reply)
    }

    private static func unexpected(_ what: String, _ reply: RedisReply) -> SaleError {
        .unavailable("\(what) answered unexpectedly: \(reply)")
    }

    private static func fields(_ reply: RedisReply) throws(SaleError) -> [RedisReply] {
        guard let fields = reply.array, !fields.isEmpty else {
            throw .unavailable("a script answered unexpectedly: \(reply)")
        }
        return fields
    }

    /// `[outcome, stock, reserved, committed, limit, ttl, buckets, starts, ends, archived]` (the scripts' `sku_reply`)
    private static func skuState(_ sku: String, _ fields: [RedisReply]) throws(SaleError) -> SKUState {
        guard fields.count == 10, let stock = fields[1].integer, let reserved = fields[2].integer,
            let committed = fields[3].integer, let limit = fields[4].integer, let ttl = fields[5].integer,
            let buckets = fields[6].integer, let starts = fields[7].integer, let ends = fields[8].integer,
            let archived = fields[9].integer
        else { throw .unavailable("a SKU reply has the wrong shape: \(fields)") }
        return SKUState(
            sku: sku,
            settings: SKUSettings(
                stock: stock, perUserLimit: limit, reservationTtlSeconds: ttl, buckets: buckets,
                startsAtMilliseconds: Self.windowEnd(starts), endsAtMilliseconds: Self.windowEnd(ends)
            ),
            reserved: reserved,
            committed: committed,
            isArchived: archived == 1
        )
    }

    /// A window's start or end as the scripts reply it: 0 is none.
    private static func windowEnd(_ milliseconds: Int64) -> Int64? {
        milliseconds == 0 ? nil : milliseconds
    }

    /// `[id, user, quantity, status, expiresAt, requestId]`, after any leading outcome fields.
    private static func reservation(_ sku: String, _ view: ArraySlice<RedisReply>) throws(SaleError) -> Reservation {
        let fields = Array(view.suffix(6))
        guard fields.count == 6, let id = fields[0].string, let user = fields[1].string,
            let quantity = fields[2].integer, let status = fields[3].string.flatMap(ReservationStatus.init(rawValue:)),
            let expiresAt = fields[4].integer, let requestId = fields[5].string
        else { throw .unavailable("a reservation reply has the wrong shape: \(view)") }
        return Reservation(
            id: id,
            sku: sku,
            user: user,
            quantity: quantity,
            status: status,
            expiresAtMilliseconds: expiresAt,
            requestId: requestId
        )
    }

    /// 96 random bits: unique across every shard without coordination, so the record can key on it.
    static func newReservationID() -> String {
        "r" + RandomPool.hex(RandomPool.next(), digits: 16) + RandomPool.hex(RandomPool.next() >> 32, digits: 8)
    }
}
