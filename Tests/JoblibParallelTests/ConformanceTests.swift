import JoblibParallel
import JoblibTestSupport
import Testing

/// The backend conformance suite (JoblibTestSupport) on the in-process backends, blocking and
/// `async`.
/// One case at a time: several checks time their calls, and blocking calls made from tasks hold
/// threads of the cooperative pool (two on this machine).
@Suite(.serialized, .timeLimit(.minutes(2))) struct ConformanceTests {
    @Test(arguments: ConformanceCase.all)
    func sequential(_ check: ConformanceCase) async throws {
        try await BackendConformance(backend: .sequential, capabilities: .sequential).run(check)
    }

    @Test(arguments: ConformanceCase.all)
    func threads(_ check: ConformanceCase) async throws {
        try await BackendConformance(backend: .threads, capabilities: .threads).run(check)
    }

    /// The crash matrix's cases that apply in this process: a thrown error while running.
    @Test(arguments: CrashCase.all(for: .sequential))
    func sequentialCrashMatrix(_ check: CrashCase) async throws {
        try await CrashMatrix(backend: .sequential, capabilities: .sequential).run(check)
    }

    @Test(arguments: CrashCase.all(for: .threads))
    func threadsCrashMatrix(_ check: CrashCase) async throws {
        try await CrashMatrix(backend: .threads, capabilities: .threads).run(check)
    }

    /// Fixed-layout tasks (``FixedLayoutTask``) behave the same in this process.
    @Test(arguments: CrashCase.fixedLayout(for: .sequential))
    func sequentialFixedLayoutCrashMatrix(_ check: CrashCase) async throws {
        try await CrashMatrix(backend: .sequential, capabilities: .sequential).runFixedLayout(check)
    }

    @Test(arguments: CrashCase.fixedLayout(for: .threads))
    func threadsFixedLayoutCrashMatrix(_ check: CrashCase) async throws {
        try await CrashMatrix(backend: .threads, capabilities: .threads).runFixedLayout(check)
    }
}
