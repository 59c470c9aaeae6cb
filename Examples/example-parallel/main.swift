// Parallel loops three ways: closures on threads, task values on worker processes, and
// `results(_:)`, where a failing task costs its own entry only.
import Joblib

/// Counts the primes below `limit`: a small CPU-bound task. Declared at file scope so that worker
/// processes can find it by name.
struct CountPrimes: ParallelTask {
    var limit: Int

    func run() throws -> Int {
        guard limit >= 0 else { throw ExampleError.negativeLimit(limit) }
        guard limit > 2 else { return 0 }
        var composite = [Bool](repeating: false, count: limit)
        var count = 0
        for n in 2..<limit where !composite[n] {
            count += 1
            for multiple in stride(from: n * n, to: limit, by: n) { composite[multiple] = true }
        }
        return count
    }
}

/// A `Codable` error travels back from a worker process as itself.
enum ExampleError: Error, Codable {
    case negativeLimit(Int)
}

// 1. A closure on threads: results in input order.
let squares = try Parallel(jobs: 2).map(0..<10) { $0 * $0 }
print("squares:", squares)

// 2. Task values on worker processes.
let limits = [10, 100, 1_000, 10_000, 100_000]
let counts = try Parallel(jobs: 2, backend: .processes).run(limits.map { CountPrimes(limit: $0) })
for (limit, count) in zip(limits, counts) { print("primes below \(limit): \(count)") }

// 3. One bad input: `run` would throw; `results` keeps every other outcome.
let outcomes = Parallel(jobs: 2, backend: .processes).results([CountPrimes(limit: 50), CountPrimes(limit: -1)])
for (index, outcome) in outcomes.enumerated() {
    switch outcome {
    case .success(let count): print("task \(index): \(count)")
    case .failure(let error): print("task \(index) failed: \(error)")
    }
}
precondition(counts == [4, 25, 168, 1_229, 9_592], "wrong prime counts: \(counts)")
