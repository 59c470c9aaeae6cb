// A disk cache for an expensive function: the first call computes, the next ones load.
import Foundation
import Joblib

// A cache folder of its own (pass one as the first argument to keep it between runs).
let location = CommandLine.arguments.dropFirst().first
    ?? FileManager.default.temporaryDirectory.appendingPathComponent("example-memory-\(getpid())").path
let memory = Memory(location: location, verbose: 0)

/// A slow function: the sum of sin over `n` points (it sleeps a little to make the point).
let slowSum = memory.cache(name: "slow-sum", version: 1) { (n: Int) -> Double in
    Thread.sleep(forTimeInterval: 0.2)
    return (0..<n).reduce(0.0) { $0 + sin(Double($1)) }
}

let clock = ContinuousClock()
var first = 0.0
var second = 0.0
let computed = try clock.measure { first = try slowSum(1_000_000) }
let loaded = try clock.measure { second = try slowSum(1_000_000) }
print("first call (computed): \(first) in \(computed)")
print("second call (from the cache): \(second) in \(loaded)")
print("in the cache: \(try slowSum.checkCallInCache(1_000_000)); another argument: \(try slowSum.checkCallInCache(5))")
precondition(first == second, "the cached result differs")

// Keep the cache small: least recently used entries go first.
try memory.reduceSize(bytesLimit: .megabytes(10))
if CommandLine.arguments.count < 2 { try memory.clear() }
