/// A unit of work that is a value: it can run on every backend, also in another process or on
/// another machine, because it travels as its `Codable` encoding.
///
/// Declare task types at file scope (worker processes find them by name):
///
/// ```swift
/// struct Simulate: ParallelTask {
///     var seed: UInt64
///     func run() throws -> Double { ... }
/// }
/// let results = try Parallel(jobs: -1).run((0..<500).map { Simulate(seed: $0) })
/// ```
public protocol ParallelTask: Codable, Sendable {
    /// What ``run()`` returns.
    associatedtype Output: Codable & Sendable
    /// Does the work. A thrown error fails the call (``Parallel/run(_:)-7o14y``) or this task's entry
    /// (``Parallel/results(_:)-3zw0p``).
    func run() throws -> Output
}
