import JoblibCoding

/// A ``ParallelTask`` whose value and output are ``/JoblibCoding/FixedLayoutValue``s: between worker processes
/// a batch of them travels as one block of bytes each way, without `Codable`.
///
/// For tasks that take microseconds, encoding and decoding them and their outputs is most of
/// what a task costs on `.processes`. Declaring the conformance is all it takes; the task runs
/// the same everywhere, and its `Codable` conformance is still what other uses of the value
/// (a cache key, a file) go through.
///
/// ```swift
/// struct Square: FixedLayoutTask {
///     var value: Int
///     func run() -> Int { value * value }
/// }
/// let squares = try Parallel(jobs: 2, backend: .processes).run((0..<20_000).map { Square(value: $0) })
/// ```
///
/// The compiler checks that the task and its output are bitwise copyable (no strings, arrays or
/// class references) and, in the Swift 6 language mode, holds no unsafe pointer; see
/// ``/JoblibCoding/FixedLayoutValue`` for what it cannot check.
public protocol FixedLayoutTask: ParallelTask, FixedLayoutValue where Output: FixedLayoutValue {}

extension ParallelTask {
    /// Whether tasks of this type cross processes as a `FixedLayoutBlock` instead of their
    /// `Codable` encoding. Both sides of a transport ask the same question about the same type
    /// (the worker is the same executable), so they agree without saying so in the frames.
    package static var travelsAsFixedLayout: Bool {
        Self.self is any FixedLayoutTask.Type && _isPOD(Self.self) && _isPOD(Output.self)
    }
}
