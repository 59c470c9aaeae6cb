import JoblibParallel
import JoblibProcesses
import JoblibTestSupport
import Testing

extension WorkerProcessSuites {
    /// The backend conformance suite (JoblibTestSupport) on worker processes, blocking and
    /// `async`: tasks run in other processes, closures are rejected.
    @Suite(.serialized, .timeLimit(.minutes(2))) struct TaskConformanceTests {
        @Test(arguments: ConformanceCase.all)
        func processes(_ check: ConformanceCase) async throws {
            try await BackendConformance(backend: .processes, capabilities: .processes).run(check)
        }
    }
}
