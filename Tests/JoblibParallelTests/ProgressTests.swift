import Testing
@testable import JoblibParallel

@Suite struct ProgressTests {
    @Test func joblibLineGrammar() {
        #expect(ProgressFormat.line(jobs: "2", ProgressFormat.done(42, total: 100, elapsed: 1.2, remaining: 1.7))
            == "[Parallel(jobs=2)]: Done  42 out of 100 | elapsed:    1.2s remaining:    1.7s")
        #expect(ProgressFormat.line(jobs: "-1", ProgressFormat.done(100, total: 100, elapsed: 3.04, finished: true))
            == "[Parallel(jobs=-1)]: Done 100 out of 100 | elapsed:    3.0s finished")
        #expect(ProgressFormat.done(7, total: 10, elapsed: 0.04) == "Done  7 out of 10 | elapsed:    0.0s")
        #expect(ProgressFormat.done(5, total: 12345, elapsed: 125) == "Done     5 out of 12345 | elapsed:  2.1min")
        #expect(ProgressFormat.time(59.96) == "  60.0s")
        #expect(ProgressFormat.time(61) == " 1.0min")
    }

    @Test func joblibVerbosityFilter() {
        // verbose 10: scale 0.5, lines when sqrt(2 × index) crosses an integer.
        let printed = (0..<20).filter { !ProgressFormat.skipWhileDispatching(index: $0, verbose: 10) }
        #expect(printed == [0, 1, 4, 7, 12, 17])
        #expect((0..<50).allSatisfy { !ProgressFormat.skipWhileDispatching(index: $0, verbose: 11) })
        #expect((0..<50).allSatisfy { ProgressFormat.skipWhileDispatching(index: $0, verbose: 0) })
    }

    @Test func joblibRuleOnceDispatched() {
        // total 100, verbose 10: every 11 tasks counted from the end, plus the first.
        let printed = (0..<100).filter { ProgressFormat.printAfterDispatch(done: $0, total: 100, verbose: 10) }
        #expect(printed == [0, 2, 13, 24, 35, 46, 57, 68, 79, 90])
    }

    @Test func goldenOutputOfASequentialRun() throws {
        let recorder = TextRecorder()
        var parallel = Parallel(jobs: 1, batchSize: .fixed(1), verbose: 10)
        parallel.progressOutput = recorder.output
        _ = try parallel.map(0..<10) { $0 }
        let normalized = recorder.lines.map { $0.replacing(/\ +\d+\.\ds/, with: " T") }
        // joblib's lines for n_jobs=1 and ten tasks, each with joblib's estimate of the time left
        // (which joblib adds once its input is fully dispatched; ours is known from the start).
        #expect(normalized == [
            "[Parallel(jobs=1)]: Done  1 out of 10 | elapsed: T remaining: T",
            "[Parallel(jobs=1)]: Done  4 out of 10 | elapsed: T remaining: T",
            "[Parallel(jobs=1)]: Done  7 out of 10 | elapsed: T remaining: T",
            "[Parallel(jobs=1)]: Done 10 out of 10 | elapsed: T finished",
        ])
    }

    @Test func remainingIsJoblibsEstimate() {
        // elapsed / done × (total − done): 25 tasks in 1 s leaves 75 tasks, 3 s.
        #expect(ProgressFormat.remaining(elapsed: 1, done: 25, total: 100) == 3)
        #expect(ProgressFormat.remaining(elapsed: 2, done: 100, total: 100) == 0)
        #expect(ProgressFormat.remaining(elapsed: 0.5, done: 0, total: 4) == 2)
    }

    @Test func slowTasksShowTheTimeLeft() throws {
        // Ten tasks of 20 ms on one worker: after the first, about 9 × 20 ms remain.
        let recorder = TextRecorder()
        var parallel = Parallel(jobs: 1, batchSize: .fixed(1), verbose: 10)
        parallel.progressOutput = recorder.output
        _ = try parallel.map(0..<10) { i in
            sleepMilliseconds(20)
            return i
        }
        let first = try #require(recorder.lines.first)
        let match = try #require(first.wholeMatch(of: /\[Parallel\(jobs=1\)\]: Done  1 out of 10 \| elapsed: +(\d+\.\d)s remaining: +(\d+\.\d)s/))
        let remaining = try #require(Double(match.output.2))
        #expect(remaining >= 0.1 && remaining < 5, "\(first)")
    }

    @Test func threadsAnnounceTheBackendAndFinish() throws {
        let recorder = TextRecorder()
        _ = try Parallel(jobs: 2, backend: .threads, verbose: 5, progressOutput: recorder.output).map(0..<1_000) { $0 }
        let lines = recorder.lines
        #expect(lines.first == "[Parallel(jobs=2)]: Using backend threads with 2 concurrent workers.")
        #expect(lines.last?.hasPrefix("[Parallel(jobs=2)]: Done 1000 out of 1000 | elapsed: ") == true)
        #expect(lines.last?.hasSuffix("s finished") == true)
        for line in lines.dropFirst().dropLast() {
            #expect(line.wholeMatch(of: /\[Parallel\(jobs=2\)\]: (Done +\d+ out of 1000 \| elapsed: +\d+\.\ds remaining: +\d+\.\ds|Batch computation too (fast|slow) \(.*s\.\) Setting batch_size=\d+\.)/) != nil, "\(line)")
        }
    }

    @Test func silentWithoutVerbose() throws {
        let recorder = TextRecorder()
        _ = try Parallel(jobs: 2, backend: .threads, verbose: 0, progressOutput: recorder.output).map(0..<1_000) { $0 }
        #expect(recorder.lines.isEmpty)
    }

    @Test func aTerminalGetsOneBarLine() throws {
        let recorder = TextRecorder()
        var parallel = Parallel(jobs: 1, verbose: 1)
        parallel.progressOutput = ProgressOutput(isTerminal: true, write: recorder.output.write)
        _ = try parallel.map(0..<50) { $0 }
        let lines = recorder.lines
        #expect(lines.count == 1)
        let last = lines.last.map { String($0.split(separator: "\r").last ?? "") }
        #expect(last?.hasPrefix("[Parallel(jobs=1)] [########################] 50/50 ") == true)
        #expect(ProgressFormat.bar(jobs: "2", done: 25, total: 100, elapsed: 1, finished: false)
            == "[Parallel(jobs=2)] [######------------------]  25/100     25.0 tasks/s  ETA    3.0s")
    }
}

@Suite struct ConfigurationTests {
    @Test func scopesNestAndEnd() throws {
        #expect(ParallelConfiguration.current.jobs == nil)
        try withParallelConfiguration(backend: .sequential, jobs: 3, verbose: 2) {
            #expect(ParallelConfiguration.current.jobs == 3)
            #expect(ParallelConfiguration.current.backend?.name == "sequential")
            try withParallelConfiguration(jobs: 5) {
                #expect(ParallelConfiguration.current.jobs == 5)
                #expect(ParallelConfiguration.current.verbose == 2)
                let plan = try Parallel().plan()
                #expect(plan.backendName == "sequential" && plan.verbose == 2)
                // Arguments beat the configuration.
                let explicit = try Parallel(jobs: 2, backend: .threads, verbose: 0).plan()
                #expect(explicit.backendName == "threads" && explicit.workers == 2 && explicit.verbose == 0)
            }
            #expect(ParallelConfiguration.current.jobs == 3)
        }
        #expect(ParallelConfiguration.current.jobs == nil)
        #expect(ParallelConfiguration.current.backend == nil)
    }

    @Test func asyncScopesReachChildTasks() async throws {
        try await withParallelConfiguration(backend: .threads, jobs: 2, timeout: .seconds(9)) {
            let seen = await Task { ParallelConfiguration.current.jobs }.value
            #expect(seen == 2)
            let output = try await Parallel().map(0..<10) { _ in ParallelConfiguration.current.nestingLevel }
            #expect(output == Array(repeating: 1, count: 10))
            #expect(try Parallel().plan().timeout == .seconds(9))
        }
        #expect(ParallelConfiguration.current.timeout == nil)
    }

    @Test func environment() {
        let forced = ParallelConfiguration.fromEnvironment { $0 == "JOBLIB_FORCE_SEQUENTIAL" ? "1" : nil }
        #expect(forced.forcesSequential && !forced.processesRunThreads)
        let noProcesses = ParallelConfiguration.fromEnvironment { $0 == "JOBLIB_MULTIPROCESSING" ? "0" : nil }
        #expect(noProcesses.processesRunThreads && !noProcesses.forcesSequential)
        let plain = ParallelConfiguration.fromEnvironment { _ in nil }
        #expect(!plain.forcesSequential && !plain.processesRunThreads)
        #expect(!ParallelConfiguration.fromEnvironment { _ in "0" }.forcesSequential)
    }

    @Test func forcedSequentialOverridesEverything() throws {
        var forced = ParallelConfiguration.current
        forced.forcesSequential = true
        try ParallelConfiguration.$storage.withValue(forced) {
            let plan = try Parallel(jobs: 4, backend: .threads).plan()
            #expect(plan.backendName == "sequential" && plan.workers == 1)
        }
    }
}
