import Foundation
import Synchronization
import Testing
@testable import JoblibParallel
import JoblibSystem

@Suite struct WorkerCountTests {
    @Test func joblibArithmetic() throws {
        #expect(try WorkerCount(3).resolved(cpus: 8) == 3)
        #expect(try WorkerCount(20).resolved(cpus: 8) == 20)
        #expect(try WorkerCount(-1).resolved(cpus: 8) == 8)
        #expect(try WorkerCount(-2).resolved(cpus: 8) == 7)
        #expect(try WorkerCount(-8).resolved(cpus: 8) == 1)
        #expect(try WorkerCount(-9).resolved(cpus: 8) == 1)
        #expect(try WorkerCount(Int.min).resolved(cpus: 8) == 1)
        #expect(try WorkerCount(-2).resolved(cpus: 1) == 1)
    }

    @Test func againstTheRealCPUCount() throws {
        let cpus = cpuCount()
        let all: WorkerCount = -1
        #expect(try all.resolved() == cpus)
        #expect(try WorkerCount(-2).resolved() == max(cpus - 1, 1))
        #expect(WorkerCount.allCPUs == -1)
    }

    @Test func zeroIsAClearError() throws {
        #expect { try WorkerCount(0).resolved(cpus: 4) } throws: { ($0 as? ParallelError)?.code == .invalidWorkerCount }
        #expect { try Parallel(jobs: 0).map(0..<3) { $0 } } throws: { error in
            let error = error as? ParallelError
            return error?.code == .invalidWorkerCount && error!.message.contains("jobs: 0")
        }
    }

    @Test func otherBadArgumentsAreClearErrors() throws {
        #expect { try Parallel(batchSize: .fixed(0)).map(0..<3) { $0 } } throws: {
            ($0 as? ParallelError)?.code == .invalidBatchSize
        }
        #expect { try Parallel(timeout: .zero).map(0..<3) { $0 } } throws: {
            ($0 as? ParallelError)?.code == .invalidTimeout
        }
    }
}

@Suite struct BatchingTests {
    @Test func fastBatchesGrowAtMostTwofoldPerStep() {
        var sizer = AutoBatchSizer(.auto)
        var sizes: [Int] = []
        for _ in 0..<12 {
            let size = sizer.nextSize(remaining: 1_000_000, workers: 2)
            sizes.append(size)
            sizer.record(size: size, duration: 0.000_01 * Double(size))
        }
        #expect(sizes == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048])
    }

    @Test func growthStopsNearTheIdealDuration() {
        var sizer = AutoBatchSizer(.auto)
        var size = 1
        for _ in 0..<30 {
            size = sizer.nextSize(remaining: 1_000_000, workers: 2)
            sizer.record(size: size, duration: 0.01 * Double(size))  // 10 ms per task
        }
        // joblib stops growing once a batch takes at least 0.2 s: 20 to 40 tasks here.
        #expect((20...40).contains(size))
    }

    @Test func slowBatchesShrink() {
        var sizer = AutoBatchSizer(.auto)
        for _ in 0..<6 {
            let size = sizer.nextSize(remaining: 1_000_000, workers: 2)
            sizer.record(size: size, duration: 0.000_1 * Double(size))
        }
        let grown = sizer.effectiveSize
        sizer.record(size: grown, duration: 1e9)  // the EMA now sits far above 2 s
        let shrunk = sizer.nextSize(remaining: 1_000_000, workers: 2)
        #expect(shrunk < grown)
    }

    @Test func theTailIsSplitFinely() {
        var sizer = AutoBatchSizer(.auto)
        for _ in 0..<8 {
            let size = sizer.nextSize(remaining: 1_000_000, workers: 2)
            sizer.record(size: size, duration: 0.000_001)
        }
        #expect(sizer.effectiveSize == 128)
        // Grows to 256, but 400 left < 256 × 2 workers: batches of 400 / (10 × 2) = 20.
        #expect(sizer.nextSize(remaining: 400, workers: 2) == 20)
        #expect(sizer.nextSize(remaining: 380, workers: 2) == 20)
        #expect(sizer.nextSize(remaining: 7, workers: 2) == 7)
    }

    @Test func fixedSizesAreKept() {
        var sizer = AutoBatchSizer(.fixed(7))
        #expect(sizer.nextSize(remaining: 100, workers: 2) == 7)
        sizer.record(size: 7, duration: 0.000_001)
        #expect(sizer.nextSize(remaining: 100, workers: 2) == 7)
        #expect(sizer.nextSize(remaining: 3, workers: 2) == 3)
    }

    @Test func fixedBatchesAreWhatWorkersReceive() throws {
        let log = SizeLog()
        let backend = Backend(name: "recording") { RecordingBackend(log: log) }
        let output = try Parallel(jobs: 2, backend: backend, batchSize: .fixed(10)).map(0..<95) { $0 }
        #expect(output == Array(0..<95))
        #expect(log.sizes.withLock { $0 } == [10, 10, 10, 10, 10, 10, 10, 10, 10, 5])
    }
}

final class SizeLog: Sendable {
    let sizes = Mutex<[Int]>([])
}

/// The protocol's doc-comment backend (workers run in the caller), recording batch sizes.
struct RecordingBackend: ParallelBackend {
    let log: SizeLog
    func start(_ job: ParallelJob, workers: Int) throws {
        while let batch = job.nextBatch() {
            log.sizes.withLock { $0.append(batch.indices.count) }
            batch.run()
        }
    }
}

@Suite struct CustomBackendTests {
    struct InlineBackend: ParallelBackend {
        func start(_ job: ParallelJob, workers: Int) throws { job.runWorker() }
    }

    @Test func theDocumentedContract() throws {
        let squares = try Parallel(jobs: 2, backend: Backend(name: "inline") { InlineBackend() }).map(0..<100) { $0 * $0 }
        #expect(squares == (0..<100).map { $0 * $0 })
    }

    struct FailingBackend: ParallelBackend {
        func start(_ job: ParallelJob, workers: Int) throws { throw Boom(index: 99) }
    }

    @Test func aBackendThatCannotStartFailsTheCall() throws {
        #expect(throws: Boom(index: 99)) {
            _ = try Parallel(jobs: 2, backend: Backend(name: "failing") { FailingBackend() }).map(0..<10) { $0 }
        }
    }
}

@Suite struct ThreadPoolTests {
    @Test func threadsAreReusedAndShutDown() throws {
        let pool = ThreadPool(name: "test-pool", idleTimeout: .seconds(30))
        let backend = Backend(name: "threads") { ThreadBackend(pool: pool) }
        for _ in 0..<5 {
            #expect(try Parallel(jobs: 2, backend: backend).map(0..<1_000) { $0 + 1 } == Array(1...1_000))
            // A call returns when its last batch is done, a moment before its threads are idle
            // again; under load the next call would otherwise start threads of its own.
            let deadline = ContinuousClock.now + .seconds(2)
            while pool.idleThreads < 2 && ContinuousClock.now < deadline { usleep(1_000) }
        }
        #expect(pool.liveThreads == 2)
        pool.shutdown()
        #expect(pool.liveThreads == 0)
    }

    @Test func idleThreadsExit() throws {
        let pool = ThreadPool(name: "test-idle", idleTimeout: .milliseconds(20))
        let backend = Backend(name: "threads") { ThreadBackend(pool: pool) }
        _ = try Parallel(jobs: 2, backend: backend).map(0..<10) { $0 }
        let start = monotonicNanoseconds()
        while pool.liveThreads > 0 && seconds(since: start) < 2 { sleepMilliseconds(5) }
        #expect(pool.liveThreads == 0)
        pool.shutdown()
    }

    @Test func aStuckThreadIsAbandonedAndReplaced() throws {
        let pool = ThreadPool(name: "test-stuck", idleTimeout: .seconds(30))
        let backend = Backend(name: "threads") { ThreadBackend(pool: pool) }
        let release = Atomic<Bool>(false)
        #expect { try Parallel(jobs: 2, backend: backend, batchSize: .fixed(1), timeout: .milliseconds(30)).map(0..<2) { index in
            if index == 0 { while !release.load(ordering: .relaxed) { sleepMilliseconds(1) } }
            return index
        } } throws: { ($0 as? ParallelError)?.taskIndex == 0 }
        #expect(pool.abandonedThreads == 1)
        // The next call does not wait for the stuck thread: another one runs its work.
        #expect(try Parallel(jobs: 2, backend: backend).map(0..<100) { $0 } == Array(0..<100))
        #expect(pool.liveThreads == 3)
        release.store(true, ordering: .relaxed)
        pool.shutdown()
        #expect(pool.liveThreads == 0)
    }
}
