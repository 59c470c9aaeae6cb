import Foundation
import JoblibParallel
import Synchronization
import Testing

// The checks on closures: they run on in-process backends, and every other backend rejects them
// with the same error, blocking or `async`.
extension BackendConformance {
    func closures(_ style: CallStyle) async throws {
        guard capabilities.contains(.runsClosures) else { return try await closuresAreRejected(style) }
        let parallel = parallel()
        switch style {
        case .blocking:
            #expect(try blocking { try parallel.map(0..<1_000) { $0 * 3 } } == (0..<1_000).map { $0 * 3 })
            #expect(try blocking { try parallel.map([Int]()) { $0 } } == [])
            let tiny = try blocking { try parallel.map(0..<100_000) { $0 &* 7 } }
            #expect(tiny == (0..<100_000).map { $0 &* 7 })
            let outcomes = blocking { parallel.mapResults(0..<300) { index -> Int in
                if index % 3 == 0 { throw ConformanceError(index: index) }
                return index
            } }
            #expect(outcomes.enumerated().allSatisfy { index, outcome in
                index % 3 == 0 ? outcome.failure as? ConformanceError == ConformanceError(index: index) : (try? outcome.get()) == index
            })
            // A nested call inside a task runs sequentially unless configured.
            let levels = try blocking { try parallel.map(0..<4) { _ in
                try Parallel().map(0..<10) { _ in ParallelConfiguration.current.nestingLevel }
            } }
            #expect(levels.allSatisfy { $0 == Array(repeating: 2, count: 10) })
            #expect(try blocking { try parallel.run((0..<4).map { ConformanceNesting(index: $0) }) } == [1, 1, 1, 1])
        case .async:
            #expect(try await parallel.map(0..<1_000) { $0 * 3 } == (0..<1_000).map { $0 * 3 })
            let outcomes = await parallel.mapResults(0..<30) { index -> Int in
                if index == 4 { throw ConformanceError(index: index) }
                return index
            }
            #expect(outcomes[4].failure as? ConformanceError == ConformanceError(index: 4) && (try? outcomes[5].get()) == 5)
            // `async` bodies: at most `jobs` at a time, errors rethrown, a timeout names its task.
            let gauge = Gauge()
            let output = try await parallel.map(0..<20) { index async throws -> Int in
                gauge.enter()
                try await _Concurrency.Task.sleep(for: .milliseconds(2))
                gauge.leave()
                return index * 10
            }
            #expect(output == (0..<20).map { $0 * 10 })
            #expect(gauge.peak <= (capabilities.contains(.runsInParallel) ? jobs : 1))
            await #expect(throws: ConformanceError(index: 3)) {
                _ = try await parallel.map(0..<10) { index async throws -> Int in
                    if index == 3 { throw ConformanceError(index: 3) }
                    return index
                }
            }
            let start = ContinuousClock.now
            await #expect {
                _ = try await self.parallel(timeout: .milliseconds(50)).map(0..<3) { index async throws -> Int in
                    if index == 1 { try await _Concurrency.Task.sleep(for: .seconds(5)) }
                    return index
                }
            } throws: { error in
                (error as? ParallelError)?.code == .timeout && (error as? ParallelError)?.taskIndex == 1
            }
            #expect(ContinuousClock.now - start < .seconds(3))
            var streamed: [Int] = []
            for try await (index, value) in parallel.stream(0..<200, order: .input, { $0 + 1 }) {
                #expect(value == index + 1)
                streamed.append(index)
            }
            #expect(streamed == Array(0..<200))
        }
    }

    /// On a backend that cannot run closures, every closure call fails with `unsupportedTask`
    /// and no body runs (not even in the caller's process).
    private func closuresAreRejected(_ style: CallStyle) async throws {
        let parallel = parallel()
        let ran = ReadCounter()
        let isUnsupported: @Sendable (any Error) -> Bool = { ($0 as? ParallelError)?.code == .unsupportedTask }
        switch style {
        case .blocking:
            #expect { try parallel.map(0..<10) { index -> Int in ran.increment(); return index } } throws: { isUnsupported($0) }
            let outcomes = blocking { parallel.mapResults(0..<3) { index -> Int in ran.increment(); return index } }
            #expect(outcomes.allSatisfy { $0.failure.map(isUnsupported) == true })
        case .async:
            await #expect {
                _ = try await parallel.map(0..<10) { index async throws -> Int in ran.increment(); return index }
            } throws: { isUnsupported($0) }
            await #expect {
                _ = try await parallel.map(0..<10) { index throws -> Int in ran.increment(); return index }
            } throws: { isUnsupported($0) }
            await #expect {
                for try await _ in parallel.stream(0..<10, order: .completion, { index -> Int in ran.increment(); return index }) {}
            } throws: { isUnsupported($0) }
        }
        #expect(ran.count == 0, "a closure ran although the backend cannot run closures")
    }

    /// Fail-fast, timeouts and cancellation reach inside one large batch.
    func largeBatches(_ style: CallStyle) async throws {
        guard capabilities.contains(.runsClosures) else {
            // The same inside a large batch of tasks.
            try await withScratchDirectory { directory in
                let tasks = (0..<4_000).map { ConformanceMarked(directory: directory, index: $0, failAt: 10) }
                await #expect(throws: ConformanceError(index: 10)) {
                    try await run(parallel(batchSize: .fixed(2_000)), tasks, style)
                }
                if capabilities.contains(.stopsRunningBatches) {
                    #expect(fileCount(directory) < 2_000, "\(fileCount(directory)) tasks started after the failure")
                }
            }
            return
        }
        let started = ReadCounter()
        let body: @Sendable (Int) throws -> Int = { index in
            started.increment()
            if index == 10 { throw ConformanceError(index: 10) }
            usleep(20)
            return index
        }
        let large = parallel(batchSize: .fixed(10_000))
        switch style {
        case .blocking: #expect(throws: ConformanceError(index: 10)) { _ = try large.map(0..<20_000, body) }
        case .async: await #expect(throws: ConformanceError(index: 10)) { _ = try await large.map(0..<20_000, body) }
        }
        #expect(started.count < 1_000, "tasks kept starting after the failure: \(started.count)")

        let start = ContinuousClock.now
        let timed = parallel(batchSize: .fixed(50), timeout: .milliseconds(50))
        let slowAt30: @Sendable (Int) throws -> Int = { index in
            if index == 30 { usleep(2_000_000) }
            return index
        }
        let isTimeout: @Sendable (any Error) -> Bool = { error in
            (error as? ParallelError)?.code == .timeout && (error as? ParallelError)?.taskIndex == 30
        }
        switch style {
        case .blocking: #expect { _ = try timed.map(0..<100, slowAt30) } throws: { isTimeout($0) }
        case .async: await #expect { _ = try await timed.map(0..<100, slowAt30) } throws: { isTimeout($0) }
        }
        if capabilities.contains(.stopsOverrunningTasks) {
            #expect(ContinuousClock.now - start < .milliseconds(1_500), "the watchdog should see the batch's running task")
        }
    }
}
