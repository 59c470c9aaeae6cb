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

/// One slot per task for outcomes written by workers, read by the caller once the job finished.
// @unchecked Sendable: each slot is written by the one worker that runs its task, and read only
// after the job's completion (a mutex hand-off) orders those writes before the reads.
@usableFromInline
final class ResultSlots<Element>: @unchecked Sendable {
    @usableFromInline let slots: UnsafeMutableBufferPointer<Element?>

    @inlinable
    init(count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil)
    }

    @inlinable
    deinit {
        slots.deinitialize()
        slots.deallocate()
    }

    @inlinable
    subscript(index: Int) -> Element? {
        get { slots[index] }
        set { slots[index] = newValue }
    }

    /// Every slot's value; each must be filled.
    @inlinable
    func values() -> [Element] { slots.map { $0! } }

    /// Every slot's value, `fill(index)` for the empty ones.
    @inlinable
    func values(filling fill: (Int) -> Element) -> [Element] {
        slots.indices.map { slots[$0] ?? fill($0) }
    }
}
