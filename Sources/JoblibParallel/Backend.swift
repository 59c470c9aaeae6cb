/// Where a ``Parallel`` call runs its tasks: `.sequential`, `.threads`, or a custom backend.
///
/// A `Backend` is a name and a factory of ``ParallelBackend`` values, so that new kinds of
/// workers (processes, a cluster) are static factories beside these ones.
public struct Backend: Sendable, CustomStringConvertible {
    /// The name printed in progress lines, for example `"threads"`.
    public let name: String
    package let makeBackend: @Sendable () throws -> any ParallelBackend
    let kind: Kind

    enum Kind: Sendable { case sequential, threads, custom }

    /// A custom backend: `makeBackend` is called once per ``Parallel`` call.
    public init(name: String, makeBackend: @escaping @Sendable () throws -> any ParallelBackend) {
        self.init(name: name, kind: .custom, makeBackend: makeBackend)
    }

    init(name: String, kind: Kind, makeBackend: @escaping @Sendable () throws -> any ParallelBackend) {
        self.name = name
        self.kind = kind
        self.makeBackend = makeBackend
    }

    /// Every task runs in the calling thread, one after the other: the reference behaviour, and
    /// what `jobs: 1` means on every backend. A timeout is reported when the slow task returns.
    /// (An `async` call runs them on a thread of its own instead, so that no thread of the
    /// cooperative pool blocks; a timeout then fails the call at once.)
    public static var sequential: Backend {
        Backend(name: "sequential", kind: .sequential) { SequentialBackend() }
    }

    /// A pool of real threads shared by all calls and reused between them; `jobs` of them work on
    /// one call. Tasks may block (I/O). Idle threads exit after a while and come back on demand.
    public static var threads: Backend {
        Backend(name: "threads", kind: .threads) { ThreadBackend(pool: .shared) }
    }

    /// The name of the backend.
    public var description: String { name }
}

/// Runs the job's only worker in the calling thread before `start` returns.
struct SequentialBackend: ParallelBackend {
    func start(_ job: ParallelJob, workers: Int) throws { job.runWorker() }
}
