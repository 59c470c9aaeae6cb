// Scenarios of bounded loading and of the cache's computing once, run in a process of their own
// (an address-space limit, a process killed while it computes).
import Foundation
import Joblib
import JoblibSystem
#if canImport(Glibc)
import Glibc
#endif

/// `load-limited AS_MB FILE [MAXIMUM_MB]`: limits this process's address space to AS_MB MiB, then
/// loads FILE as NDArray<Double> (with a `maximumSize` of MAXIMUM_MB MiB if given) and prints
/// `loaded N` or `error CODE`. A trap instead of an error ends the process by a signal.
func runLimitedLoad(_ arguments: [String]) throws {
    guard arguments.count >= 2, let megabytes = Int(arguments[0]) else {
        print("usage: load-limited AS_MB FILE [MAXIMUM_MB]")
        exit(2)
    }
    try setAddressSpaceLimit(bytes: megabytes << 20)
    let maximum = arguments.count > 2 ? Int(arguments[2]).map { ByteCount.megabytes($0) } : nil
    do {
        let array = try load(NDArray<Double>.self, from: arguments[1], maximumSize: maximum ?? defaultMaximumLoadSize)
        print("loaded \(array.count)")
    } catch let error as PersistenceError {
        print("error \(error.code)")
        FileHandle.standardError.write(Data("\(error)\n".utf8))
    }
}

/// `memory-compute DIR X DELAY_MS wait|nowait`: computes slowSquare(X) through a cache in DIR.
/// Before computing it appends `<pid>` to DIR/starts.log, after computing to DIR/computations.log.
/// `nowait` turns off computing once across processes. Prints the result.
func runMemoryCompute(_ arguments: [String]) throws {
    guard arguments.count == 4, let x = Int(arguments[1]), let delay = UInt32(arguments[2]) else {
        print("usage: memory-compute DIR X DELAY_MS wait|nowait")
        exit(2)
    }
    let directory = arguments[0]
    @Sendable func log(_ name: String) {
        let fd = open(directory + "/" + name, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        let line = "\(getpid())\n"
        _ = line.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }
    let memory = Memory(location: directory, verbose: 0, computationWait: arguments[3] == "nowait" ? .zero : .seconds(60))
    let square = memory.cache(name: "slowSquare") { (x: Int) -> [Int] in
        log("starts.log")
        usleep(delay * 1000)
        log("computations.log")
        return [x * x, x]
    }
    print(try square(x))
}

/// The argument of `memory-ignore`: a struct with a field to ignore.
struct TracedQuery: Codable, Sendable {
    var path: String
    var verbose: Bool
    var password: String
}

/// `memory-ignore DIR`: one call with the verbose trace on (standard output) of a function that
/// ignores the field `password` and its argument 1, so the test can check neither is shown.
func runMemoryIgnore(_ arguments: [String]) throws {
    guard let directory = arguments.first else {
        print("usage: memory-ignore DIR")
        exit(2)
    }
    let memory = Memory(location: directory, verbose: 1)
    let f = memory.cache(name: "query", ignore: ["password", .argument(1)]) { (query: TracedQuery, token: String) -> Int in
        query.path.count
    }
    _ = try f(TracedQuery(path: "visible-path", verbose: true, password: "hunter2-field"), "hunter2-argument")
}
