import Foundation
import JoblibParallel
import JoblibProcesses
import JoblibSystem
import JoblibTestSupport
import Testing
@testable import JoblibRay

/// The Ray suites run one after the other: each has a cluster of its own, and the machine has few
/// cores.
@Suite(.serialized) enum RayTests {}

extension RayTests {
    /// Against a real Ray head and a second node on 127.0.0.1 (one CPU each: two actors, one per
    /// node); one test at a time, because some kill Ray's processes. Every wait is bounded: the
    /// calls' own timeouts, and a time limit per test.
    @Suite(.rayCluster(nodes: 2), .serialized, .timeLimit(.minutes(1)))
    struct RayBackendTests {
        var cluster: RayTestCluster { RayTestCluster.current! }
        var ray: Backend { .ray(address: cluster.address, options: RayOptions(noNodesTimeout: .seconds(20))) }
        /// The checks shared with the other cluster backend.
        var checks: ClusterChecks { ClusterChecks(backend: ray) }

        @Test func resultsArriveInInputOrderFromActorsOnBothNodes() throws {
            let probes = try checks.resultsArriveInInputOrder()
            // Each Swift worker runs under an actor (one actor per node).
            #expect(Set(probes.map(\.parent)).allSatisfy { commandLine(of: $0).contains("SwiftWorkerHost") })
        }

        @Test func asyncAndStreamingCalls() async throws { try await checks.asyncAndStreamingCalls() }
        @Test func codableErrorsArriveAsThemselvesOthersAsRemoteTaskError() throws {
            try checks.codableErrorsArriveAsThemselvesOthersAsRemoteTaskError()
        }
        @Test func aTaskThatTrapsItsSwiftWorkerFailsAlone() throws { try checks.aTaskThatTrapsItsSwiftWorkerFailsAlone() }
        @Test func closuresAreRejected() { checks.closuresAreRejected(mentioning: "Ray") }
        @Test func timeoutKillsTheSwiftWorker() throws { try checks.timeoutKillsTheSwiftWorker() }
        @Test func largeArgumentsArrive() throws { try checks.largeArgumentsArrive() }
        @Test func jobsDoesNotBoundTheSubmissionsInFlight() throws {
            // One per actor (RaySettings.inFlightLimit).
            try checks.jobsDoesNotBoundTheSubmissionsInFlight(limit: 2) {
                let pool = BridgePool.pool(for: RaySettings(address: cluster.address, options: RayOptions(noNodesTimeout: .seconds(20))))
                let bridge = try pool.checkOut()
                defer { pool.checkIn(bridge) }
                return try #require(try bridge.statistics(timeout: .seconds(20)), "the Ray bridge did not answer `statistics`")
            }
        }

        /// A Ray worker process (an actor) SIGKILLed mid-run: Ray reports the actor lost, the
        /// bridge starts another in its slot and runs its batches again there.
        @Test func aKilledRayWorkerProcessLosesNoResult() async throws {
            let parallel = Parallel(jobs: 2, backend: ray, batchSize: .fixed(1))
            let probes = try await parallel.run((0..<6).map { ClusterWhereAmI(index: $0) })
            let actors = Set(probes.map(\.parent))
            try #require(!actors.isEmpty)
            let tasks = (0..<300).map { ConformanceNap(index: $0, seconds: 0.02) }
            async let results = Parallel(jobs: 2, backend: ray).run(tasks)
            try await Task.sleep(for: .seconds(1.5))
            kill(actors.first!, SIGKILL)
            #expect(try await results == Array(0..<300))
            #expect(try await Parallel(jobs: 2, backend: ray).run([ConformanceSquare(value: 6)]) == [36])
        }

        @Test func unreachableClusterFailsQuickly() throws {
            let start = ContinuousClock.now
            let backend = Backend.ray(address: "127.0.0.1:1", options: RayOptions(connectTimeout: .seconds(2)))
            #expect { try Parallel(jobs: 2, backend: backend).run([ConformanceSquare(value: 1)]) } throws: { error in
                (error as? RayError)?.code == .clusterUnreachable && "\(error)".contains("127.0.0.1:1")
            }
            #expect(ContinuousClock.now - start < .seconds(20))
        }

        /// No node has room for an actor needing 4 CPUs: a clear error within the call's timeout.
        @Test func noNodeThatCanHostTheActorIsAClearError() throws {
            let start = ContinuousClock.now
            let backend = Backend.ray(address: cluster.address, options: RayOptions(noNodesTimeout: .seconds(30), numCPUs: 4))
            #expect { try Parallel(jobs: 2, backend: backend, timeout: .seconds(3)).run([ConformanceSquare(value: 1)]) } throws: { error in
                (error as? RayError)?.code == .noNodes && "\(error)".contains("CPU=4")
            }
            #expect(ContinuousClock.now - start < .seconds(20), "took \(ContinuousClock.now - start)")
        }

        @Test func missingPythonOrRaySaysWhatToInstall() throws {
            let missing = Backend.ray(address: cluster.address, options: RayOptions(python: "/nonexistent/python3"))
            #expect { try Parallel(jobs: 2, backend: missing).run([ConformanceSquare(value: 1)]) } throws: { error in
                (error as? RayError)?.code == .pythonUnavailable && "\(error)".contains("pip install")
            }
            // A real Python without its site-packages: it cannot import ray.
            try withTemporaryDirectory { directory in
                let wrapper = directory.appending("python-without-site").string
                let python = try #require(findExecutable("python3"))
                try "#!/bin/sh\nexec \(python) -S \"$@\"\n".write(toFile: wrapper, atomically: true, encoding: .utf8)
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: wrapper)
                let backend = Backend.ray(address: cluster.address, options: RayOptions(python: wrapper))
                #expect { try Parallel(jobs: 2, backend: backend).run([ConformanceSquare(value: 1)]) } throws: { error in
                    (error as? RayError)?.code == .rayUnavailable && "\(error)".contains("pip install 'ray==")
                }
            }
        }

        /// A client whose Ray is another version than the cluster's: the call fails with
        /// `versionMismatch` before any task runs. Only one Ray installs here, so the bridge's
        /// Python reports another version (a `sitecustomize` sets `ray.__version__`, which is
        /// what Ray's own check and the bridge's compare against the cluster's metadata).
        @Test func aClientOnAnotherRayVersionIsAVersionMismatch() throws {
            try withTemporaryDirectory { directory in
                let site = directory.appending("site").string
                try FileManager.default.createDirectory(atPath: site, withIntermediateDirectories: true)
                try "import ray\nray.__version__ = \"2.59.0\"\n".write(
                    toFile: site + "/sitecustomize.py", atomically: true, encoding: .utf8)
                let wrapper = directory.appending("python-on-ray-2.59").string
                let python = try #require(findExecutable("python3"))
                try "#!/bin/sh\nPYTHONPATH=\(site) exec \(python) \"$@\"\n".write(toFile: wrapper, atomically: true, encoding: .utf8)
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: wrapper)
                let start = ContinuousClock.now
                let backend = Backend.ray(address: cluster.address, options: RayOptions(python: wrapper))
                #expect { try Parallel(jobs: 2, backend: backend).run([ConformanceSquare(value: 1)]) } throws: { error in
                    guard let error = error as? RayError, error.code == .versionMismatch else { return false }
                    return "\(error)".contains("2.59.0") && "\(error)".contains("2.60.0")
                }
                #expect(ContinuousClock.now - start < .seconds(30), "took \(ContinuousClock.now - start)")
            }
        }

        /// The actors check the executable before any task runs.
        @Test func anExecutableMissingOnTheNodesIsAClearError() throws {
            try withTemporaryDirectory { directory in
                let notExecutable = directory.appending("not-executable").string
                try "plain text".write(toFile: notExecutable, atomically: true, encoding: .utf8)
                let backend = Backend.ray(
                    address: cluster.address, options: RayOptions(workerExecutable: notExecutable, checksWorkerExecutable: false))
                #expect { try Parallel(jobs: 2, backend: backend).run([ConformanceSquare(value: 2)]) } throws: { error in
                    (error as? ParallelError)?.code == .workerStartFailed && "\(error)".contains("not an executable file")
                }
            }
        }

        @Test func aBridgeLeavesNothingRunning() async throws {
            let probes = try await Parallel(jobs: 2, backend: ray, batchSize: .fixed(1)).run((0..<4).map { ClusterWhereAmI(index: $0) })
            BridgePool.shutDownAll()
            let bridges = childCommandLines().filter { $0.contains("ray_bridge") }
            #expect(bridges.isEmpty, "left running: \(bridges)")
            // The actors and their Swift workers go with the bridge (Ray removes a driver's actors).
            let processes = Set(probes.map(\.pid)).union(probes.map(\.parent))
            #expect(try await waitFor(seconds: 10) { processes.allSatisfy { !isAlive($0) } }, "still running: \(processes.filter(isAlive))")
        }

        /// A program killed while its bridge waits for room for the actors: the bridge ends with
        /// it instead of waiting out the no-nodes timeout (2 minutes here; it used to).
        @Test func aBridgeWhoseDriverIsKilledWhileStartingEnds() async throws {
            let namespace = "orphan-\(UUID().uuidString.prefix(8))"
            let helper = try ChildProcess.spawn(
                executable: TestSupport.helperExecutable.path, arguments: ["ray-bridge-orphan", cluster.address, namespace],
                environment: ProcessInfo.processInfo.environment)
            defer {
                helper.kill()
                _ = helper.wait()
            }
            var bridge: Int32?
            _ = try await waitFor(seconds: 20) {
                bridge = processes(whoseCommandLineContains: namespace).first { commandLine(of: $0).contains("ray_bridge") }
                return bridge != nil
            }
            let pid = try #require(bridge, "the helper started no bridge")
            try await Task.sleep(for: .seconds(2))  // connected, waiting for room
            helper.kill()
            _ = helper.wait()
            let ended = try await waitFor(seconds: 15) { !isAlive(pid) }
            if !ended { kill(pid, SIGKILL) }
            #expect(ended, "the bridge outlived its driver by 15 s")
        }
    }
}

/// Live processes whose command line contains `text`.
func processes(whoseCommandLineContains text: String) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { Int32($0) }.filter { isAlive($0) && commandLine(of: $0).contains(text) }
}
