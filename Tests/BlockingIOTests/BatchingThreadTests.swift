import BlockingIO
import Foundation
import Synchronization
import Testing

@Suite struct BatchingThreadTests {
    /// Jobs that arrive while the thread is busy go out together in the next batch.
    @Test func jobsQueuedWhileBusyShareOneBatch() async throws {
        let batchSizes = Mutex<[Int]>([])
        let gate = DispatchSemaphore(value: 0)
        let thread = BatchingThread<Int>(name: "test", queueCapacity: 100, batchSizeMax: 100) { batch in
            // The first batch holds the thread until every other job is queued.
            if batch.first == 0 { gate.wait() }
            batchSizes.withLock { $0.append(batch.count) }
        }
        thread.start()
        try thread.submit(0)
        while thread.queueDepth > 0 { usleep(1000) }
        for job in 1...50 { try thread.submit(job) }
        gate.signal()
        await thread.stop()
        #expect(batchSizes.withLock { $0 } == [1, 50])
    }

    @Test func refusesBeyondCapacityInsteadOfGrowing() async throws {
        let gate = DispatchSemaphore(value: 0)
        let processed = Mutex(0)
        let thread = BatchingThread<Int>(name: "test", queueCapacity: 3, batchSizeMax: 10) { batch in
            if batch.first == 0 { gate.wait() }
            processed.withLock { $0 += batch.count }
        }
        thread.start()
        try thread.submit(0)
        while thread.queueDepth > 0 { usleep(1000) }
        for job in 1...3 { try thread.submit(job) }
        #expect(throws: BatchingThread<Int>.SubmitError.queueFull) { try thread.submit(4) }
        gate.signal()
        await thread.stop()
        #expect(processed.withLock { $0 } == 4)
    }

    @Test func stopAnswersEveryQueuedJobThenRefusesNewOnes() async throws {
        let processed = Mutex<[Int]>([])
        let thread = BatchingThread<Int>(name: "test", queueCapacity: 1000, batchSizeMax: 7) { batch in
            processed.withLock { $0.append(contentsOf: batch) }
        }
        thread.start()
        for job in 0..<500 { try thread.submit(job) }
        await thread.stop()
        #expect(processed.withLock { $0 } == Array(0..<500))
        #expect(throws: BatchingThread<Int>.SubmitError.stopped) { try thread.submit(1) }
    }
}
