import Foundation
import JoblibParallel
import Synchronization

// The conformance suite's task types. Declared at file scope and public: worker processes (this
// same test executable, re-executed) find them by name.

/// `value²`.
public struct ConformanceSquare: ParallelTask {
    public var value: Int
    public init(value: Int) { self.value = value }
    public func run() throws -> Int { value * value }
}

/// A `Codable` error: it reaches the caller as itself from every backend.
public struct ConformanceError: Error, Codable, Equatable {
    public var index: Int
    public init(index: Int) { self.index = index }
}

/// Returns its index, or throws ``ConformanceError`` when `fails`.
public struct ConformanceFaulty: ParallelTask {
    public var index: Int
    public var fails: Bool
    public init(index: Int, fails: Bool) {
        self.index = index
        self.fails = fails
    }
    public func run() throws -> Int {
        if fails { throw ConformanceError(index: index) }
        return index
    }
}

/// Sleeps, then returns its index: wall time without using a core.
public struct ConformanceNap: ParallelTask {
    public var index: Int
    public var seconds: Double
    public init(index: Int, seconds: Double) {
        self.index = index
        self.seconds = seconds
    }
    public func run() throws -> Int {
        usleep(UInt32(seconds * 1_000_000))
        return index
    }
}

/// Naps `seconds`; with a `gate`, only until the file `gate` exists (polled every 5 ms). Returns
/// its index, or -1 when it waited `seconds` for a gate that never opened: an event the caller
/// waits for, where a nap of fixed length would be a guess about how loaded the machine is.
public struct ConformanceGatedNap: ParallelTask {
    public var index: Int
    public var seconds: Double
    public var gate: String?
    public init(index: Int, seconds: Double, gate: String? = nil) {
        self.index = index
        self.seconds = seconds
        self.gate = gate
    }
    public func run() throws -> Int {
        guard let gate else {
            usleep(UInt32(seconds * 1_000_000))
            return index
        }
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1_000))
        while !FileManager.default.fileExists(atPath: gate) {
            if ContinuousClock.now >= deadline { return -1 }
            usleep(5_000)
        }
        return index
    }
}

/// Leaves a file named after its index when it starts (counting starts across processes),
/// naps, then returns its index or throws at `failAt`.
public struct ConformanceMarked: ParallelTask {
    public var directory: String
    public var index: Int
    public var failAt: Int
    public var seconds: Double
    public init(directory: String, index: Int, failAt: Int = -1, seconds: Double = 0.000_2) {
        self.directory = directory
        self.index = index
        self.failAt = failAt
        self.seconds = seconds
    }
    public func run() throws -> Int {
        _ = FileManager.default.createFile(atPath: "\(directory)/\(index)", contents: nil)
        if index == failAt { throw ConformanceError(index: index) }
        usleep(UInt32(seconds * 1_000_000))
        return index
    }
}

/// Crashes its process the first time it runs (a marker file remembers), then succeeds.
public struct ConformanceCrashOnce: ParallelTask {
    public var marker: String
    public init(marker: String) { self.marker = marker }
    public func run() throws -> String {
        if FileManager.default.fileExists(atPath: marker) { return "second try" }
        _ = FileManager.default.createFile(atPath: marker, contents: nil)
        fatalError("conformance: crashing once on purpose")
    }
}

/// The nesting level a task's body sees (a nested call runs sequentially).
public struct ConformanceNesting: ParallelTask {
    public var index: Int
    public init(index: Int) { self.index = index }
    public func run() throws -> Int { ParallelConfiguration.current.nestingLevel }
}

/// A sequence that counts how many of its elements have been read (to see that a call reads
/// its input lazily); `count` nil: endless.
public struct CountingSequence<Element: Sendable>: Sequence {
    public let reads: ReadCounter
    let count: Int?
    let make: @Sendable (Int) -> Element

    public init(count: Int?, reads: ReadCounter = ReadCounter(), _ make: @escaping @Sendable (Int) -> Element) {
        self.count = count
        self.reads = reads
        self.make = make
    }

    public struct Iterator: IteratorProtocol {
        let sequence: CountingSequence
        var position = 0
        public mutating func next() -> Element? {
            if let count = sequence.count, position >= count { return nil }
            defer { position += 1 }
            sequence.reads.increment()
            return sequence.make(position)
        }
    }

    public func makeIterator() -> Iterator { Iterator(sequence: self) }
}

/// A thread-safe counter.
public final class ReadCounter: Sendable {
    private let value = Atomic<Int>(0)
    public init() {}
    public func increment() { value.add(1, ordering: .relaxed) }
    public var count: Int { value.load(ordering: .relaxed) }
}
