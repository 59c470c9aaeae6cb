import Synchronization
import Testing
@testable import JoblibParallel
import JoblibSystem

/// The behaviour every backend promises (DESIGN section 3), run against each of them.
@Suite struct ConformanceTests {
    @Test(arguments: conformanceBackends)
    func resultsComeBackInInputOrder(backend: Backend) throws {
        let output = try Parallel(jobs: 2, backend: backend).map(0..<1_000) { $0 * 3 }
        #expect(output == (0..<1_000).map { $0 * 3 })
        let tasks = try Parallel(jobs: 2, backend: backend).run((0..<50).map { Square(value: $0) })
        #expect(tasks == (0..<50).map { $0 * $0 })
    }

    @Test(arguments: conformanceBackends)
    func emptyInputGivesEmptyOutput(backend: Backend) async throws {
        let parallel = Parallel(jobs: 2, backend: backend, verbose: 10, progressOutput: TextRecorder().output)
        #expect(try blockingMap(parallel, [Int]()).isEmpty)
        #expect(await parallel.mapResults([Int]()) { $0 }.isEmpty)
        #expect(try await parallel.map([Int]()) { $0 }.isEmpty)
        var streamed = 0
        for try await _ in parallel.stream([Int](), order: .input, { $0 }) { streamed += 1 }
        #expect(streamed == 0)
    }

    @Test(arguments: conformanceBackends)
    func oneItem(backend: Backend) throws {
        #expect(try Parallel(jobs: 2, backend: backend).map(["a"]) { $0 + "b" } == ["ab"])
    }

    @Test(arguments: conformanceBackends)
    func hundredThousandTinyItems(backend: Backend) throws {
        let counter = Counter()
        let output = try Parallel(jobs: 2, backend: backend).map(0..<100_000) { index -> Int in
            counter.increment()
            return index &* 7
        }
        #expect(counter.count == 100_000)
        #expect(output.count == 100_000)
        #expect(output == (0..<100_000).map { $0 &* 7 })
    }

    @Test(arguments: conformanceBackends)
    func firstErrorIsRethrownAsItsOwnTypeAndLaterTasksDoNotStart(backend: Backend) throws {
        let started = Counter()
        #expect(throws: Boom(index: 10)) {
            _ = try Parallel(jobs: 2, backend: backend).map(0..<2_000) { index -> Int in
                started.increment()
                if index == 10 { throw Boom(index: 10) }
                sleepMilliseconds(0.2)
                return index
            }
        }
        let afterReturn = started.count
        #expect(afterReturn < 200, "tasks kept starting after the failure: \(afterReturn)")
        sleepMilliseconds(20)
        #expect(started.count == afterReturn, "tasks still ran after the call returned")
    }

    @Test(arguments: conformanceBackends)
    func failFastStopsWithinOneLargeBatch(backend: Backend) async throws {
        // Two batches of 10,000: the worker running the other batch stops within it.
        let parallel = Parallel(jobs: 2, backend: backend, batchSize: .fixed(10_000))
        let started = Counter()
        let body: @Sendable (Int) throws -> Int = { index in
            started.increment()
            if index == 10 { throw Boom(index: 10) }
            sleepMilliseconds(0.02)
            return index
        }
        #expect(throws: Boom(index: 10)) { _ = try parallel.map(0..<20_000, body) }
        #expect(started.count < 1_000, "tasks kept starting after the failure: \(started.count)")
        let startedBefore = started.count
        await #expect(throws: Boom(index: 10)) { _ = try await parallel.map(0..<20_000, body) }
        #expect(started.count - startedBefore < 1_000)
        // `mapResults` runs every task of the batch all the same.
        let outcomes = await parallel.mapResults(0..<20_000) { index -> Int in
            if index % 1_000 == 10 { throw Boom(index: index) }
            return index
        }
        #expect(outcomes.count(where: { $0.failureValue != nil }) == 20)
        #expect(try outcomes[19_999].get() == 19_999)
    }

    @Test(arguments: conformanceBackends)
    func aTimeoutInsideALargeBatchIsDetected(backend: Backend) throws {
        let start = monotonicNanoseconds()
        do {
            _ = try Parallel(jobs: 2, backend: backend, batchSize: .fixed(50), timeout: .milliseconds(50))
                .map(0..<100) { index -> Int in
                    if index == 30 { sleepMilliseconds(2_000) }
                    return index
                }
            Issue.record("no timeout")
        } catch let error as ParallelError {
            #expect(error.code == .timeout)
            #expect(error.taskIndex == 30)
        }
        if backend.kind != .sequential {
            #expect(seconds(since: start) < 1.5, "the watchdog should see the batch's running task")
        }
    }

    @Test(arguments: conformanceBackends)
    func cancellationStopsWithinOneLargeBatch(backend: Backend) async throws {
        let started = Counter()
        let call = Task {
            try Parallel(jobs: 2, backend: backend, batchSize: .fixed(5_000)).map(0..<10_000) { index -> Int in
                started.increment()
                sleepMilliseconds(0.05)
                return index
            }
        }
        call.cancel()
        await #expect(throws: CancellationError.self) { try await call.value }
        #expect(started.count < 2_000)
    }

    @Test(arguments: conformanceBackends)
    func whenEveryTaskFailsOneOfTheFirstErrorsWins(backend: Backend) throws {
        do {
            _ = try Parallel(jobs: 2, backend: backend).run((0..<100).map { Square(value: -1 - $0) })
            Issue.record("no error")
        } catch let error as Boom {
            #expect(error.index >= -3)
        }
    }

    @Test(arguments: conformanceBackends)
    func resultsCostOneEntryPerFailure(backend: Backend) async throws {
        let parallel = Parallel(jobs: 2, backend: backend)
        let outcomes = await parallel.mapResults(0..<300) { index -> Int in
            if index % 3 == 0 { throw Boom(index: index) }
            return index
        }
        #expect(outcomes.count == 300)
        for (index, outcome) in outcomes.enumerated() {
            switch outcome {
            case .success(let value): #expect(index % 3 != 0 && value == index)
            case .failure(let error): #expect(index % 3 == 0 && (error as? Boom) == Boom(index: index))
            }
        }
        let tasks = await parallel.results([Square(value: 3), Square(value: -4), Square(value: 5)])
        #expect(try tasks[0].get() == 9)
        #expect(tasks[1].failureValue as? Boom == Boom(index: -4))
        #expect(try tasks[2].get() == 25)
    }

    @Test(arguments: conformanceBackends)
    func aTaskOverItsTimeoutFailsTheCallNamingIt(backend: Backend) throws {
        let start = monotonicNanoseconds()
        do {
            _ = try Parallel(jobs: 2, backend: backend, batchSize: .fixed(1), timeout: .milliseconds(50))
                .map(0..<4) { index -> Int in
                    if index == 2 { sleepMilliseconds(2_000) }
                    return index
                }
            Issue.record("no timeout")
        } catch let error as ParallelError {
            #expect(error.code == .timeout)
            #expect(error.taskIndex == 2)
        }
        let elapsed = seconds(since: start)
        if backend.kind == .sequential {
            #expect(elapsed >= 1.99, "sequential waits for the slow task to return")
        } else {
            #expect(elapsed < 1.5, "the stuck thread should have been abandoned, took \(elapsed) s")
        }
    }

    @Test(arguments: conformanceBackends)
    func tasksWithinTheTimeoutSucceed(backend: Backend) throws {
        let output = try Parallel(jobs: 2, backend: backend, timeout: .seconds(5)).map(0..<100) { $0 + 1 }
        #expect(output == Array(1...100))
    }

    @Test(arguments: conformanceBackends)
    func cancellingTheCallingTaskStopsTheCall(backend: Backend) async throws {
        let started = Counter()
        let call = Task {
            try await Parallel(jobs: 2, backend: backend).map(0..<5_000) { index -> Int in
                started.increment()
                sleepMilliseconds(1)
                return index
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        let cancelledAt = monotonicNanoseconds()
        // When this test gets to cancel depends on the cooperative pool, which other suites'
        // blocking tests may hold: count what starts after the cancellation, not before it.
        let startedBefore = started.count
        call.cancel()
        await #expect(throws: CancellationError.self) { try await call.value }
        #expect(started.count - startedBefore < 300, "\(started.count - startedBefore) tasks started after cancel()")
        #expect(started.count < 5_000)
        #expect(seconds(since: cancelledAt) < 10)
    }

    @Test(arguments: conformanceBackends)
    func cancellingABlockingCallFromATaskStopsIt(backend: Backend) async throws {
        // Cancelled from this thread at once: sleeping here would need a cooperative thread,
        // and the blocking call holds one of the (on this machine) two.
        let started = Counter()
        let call = Task {
            try Parallel(jobs: 2, backend: backend).map(0..<5_000) { index -> Int in
                started.increment()
                sleepMilliseconds(1)
                return index
            }
        }
        call.cancel()
        await #expect(throws: CancellationError.self) { try await call.value }
        #expect(started.count < 1_000)
    }

    @Test(arguments: conformanceBackends)
    func streamYieldsInInputOrder(backend: Backend) async throws {
        var indices: [Int] = []
        for try await (index, value) in Parallel(jobs: 2, backend: backend).stream(0..<500, order: .input, { $0 * 2 }) {
            #expect(value == index * 2)
            indices.append(index)
        }
        #expect(indices == Array(0..<500))
    }

    @Test(arguments: conformanceBackends)
    func streamYieldsEveryResultInCompletionOrder(backend: Backend) async throws {
        var seen: [Int: Int] = [:]
        let tasks = (0..<300).map { Square(value: $0) }
        for try await (index, value) in Parallel(jobs: 2, backend: backend).stream(tasks, order: .completion) {
            #expect(seen[index] == nil)
            seen[index] = value
        }
        #expect(seen == Dictionary(uniqueKeysWithValues: (0..<300).map { ($0, $0 * $0) }))
    }

    @Test(arguments: conformanceBackends)
    func streamThrowsTheFirstError(backend: Backend) async throws {
        let stream = Parallel(jobs: 2, backend: backend).stream([Square(value: 1), Square(value: -7)], order: .input)
        await #expect(throws: Boom(index: -7)) {
            for try await _ in stream {}
        }
    }

    @Test(arguments: conformanceBackends)
    func asyncBodiesRunAtMostJobsAtATime(backend: Backend) async throws {
        let gauge = ConcurrencyGauge()
        let output = try await Parallel(jobs: 2, backend: backend).map(0..<20) { index async throws -> Int in
            gauge.enter()
            try await Task.sleep(for: .milliseconds(2))
            gauge.leave()
            return index * 10
        }
        #expect(output == (0..<20).map { $0 * 10 })
        #expect(gauge.peak <= (backend.kind == .sequential ? 1 : 2))
        await #expect(throws: Boom(index: 3)) {
            _ = try await Parallel(jobs: 2, backend: backend).map(0..<10) { index async throws -> Int in
                if index == 3 { throw Boom(index: 3) }
                return index
            }
        }
    }

    @Test(arguments: conformanceBackends)
    func asyncBodyTimeout(backend: Backend) async throws {
        do {
            _ = try await Parallel(jobs: 2, backend: backend, timeout: .milliseconds(30)).map(0..<3) { index async throws -> Int in
                if index == 1 { try await Task.sleep(for: .seconds(5)) }
                return index
            }
            Issue.record("no timeout")
        } catch let error as ParallelError {
            #expect(error.code == .timeout && error.taskIndex == 1)
        }
    }

    @Test(arguments: conformanceBackends)
    func nestedCallsRunSequentiallyUnlessConfigured(backend: Backend) throws {
        let output = try Parallel(jobs: 2, backend: backend).map(0..<4) { outer -> [String] in
            let configuration = ParallelConfiguration.current
            #expect(configuration.nestingLevel == 1)
            let inner = try Parallel().plan()
            let explicit = try Parallel(jobs: 2).plan()
            let sums = try Parallel().map(0..<10) { $0 + outer }
            #expect(sums == (0..<10).map { $0 + outer })
            return [inner.backendName, explicit.backendName]
        }
        #expect(output.allSatisfy { $0 == ["sequential", "threads"] })
    }

    @Test(arguments: conformanceBackends)
    func progressCallbackCountsUpToTheTotal(backend: Backend) throws {
        let reports = Mutex<[Int]>([])
        _ = try Parallel(jobs: 2, backend: backend, progress: { completed, total, elapsed in
            #expect(total == 1_000)
            #expect(elapsed >= .zero)
            reports.withLock { $0.append(completed) }
        }).map(0..<1_000) { $0 }
        let seen = reports.withLock { $0 }
        #expect(seen.last == 1_000)
        #expect(seen == seen.sorted() && Set(seen).count == seen.count)
    }
}

/// The blocking `map`, out of reach of the async overload.
func blockingMap(_ parallel: Parallel, _ inputs: [Int]) throws -> [Int] { try parallel.map(inputs) { $0 } }

extension Result {
    var failureValue: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

extension Parallel {
    /// A `Parallel` that records its progress text.
    init(jobs: WorkerCount? = nil, backend: Backend? = nil, verbose: Int, progressOutput: ProgressOutput) {
        self.init(jobs: jobs, backend: backend, verbose: verbose)
        self.progressOutput = progressOutput
    }
}
