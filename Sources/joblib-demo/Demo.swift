// The README's main job: a book of option contracts priced in worker processes, with a cache,
// a crash that costs one item, and the results saved and mapped back. `make demo` runs it.
import ArgumentParser
import Foundation
import Joblib

/// The arrays the demo saves: one row per contract, NaN where a contract failed.
struct BookResults: Codable {
    var contractIDs: [Int]
    var prices: NDArray<Double>
    var standardErrors: NDArray<Double>
    /// `[contracts, Pricing.bins]`: the distribution of each contract's average price.
    var distributions: NDArray<Double>
    var failedItems: [Int]

    /// Equal element by element, NaN included (bit patterns, so a failed row matches itself).
    func sameValues(as other: BookResults) -> Bool {
        func same(_ a: NDArray<Double>, _ b: NDArray<Double>) -> Bool {
            a.shape == b.shape && a.elementsEqual(b) { $0.bitPattern == $1.bitPattern }
        }
        return contractIDs == other.contractIDs && failedItems == other.failedItems && same(prices, other.prices)
            && same(standardErrors, other.standardErrors) && same(distributions, other.distributions)
    }
}

@main
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "joblib-demo",
        abstract: "Price a book of Asian options by Monte Carlo on worker processes, with a disk cache.",
        discussion: """
            One contract carries a corrupt input that traps the worker pricing it: the demo reports \
            it by index and finishes the others. Results are cached per contract under --cache, so \
            a second run is answered from disk. The final arrays are saved raw and with zstd, and \
            the raw file is loaded back memory-mapped.
            """)

    @Option(help: "How many contracts to price.")
    var items = 300

    @Option(help: "The cache folder (created if needed); results files are written there too.")
    var cache = "joblib-demo-cache"

    @Option(help: "Worker processes (joblib's n_jobs: -1 is every CPU).")
    var jobs = -1

    func validate() throws {
        guard items > 0 else { throw ValidationError("--items must be at least 1") }
        guard jobs != 0 else { throw ValidationError("--jobs 0 means nothing; use -1 for every CPU") }
    }

    func run() throws {
        let runStart = ContinuousClock.now
        // The trap below is deliberate: its workers report it in one line instead of a full
        // backtrace (workers inherit the environment). An explicit SWIFT_BACKTRACE is kept.
        setenv("SWIFT_BACKTRACE", "enable=no", 0)
        let book = Contract.book(count: items)
        let workers = WorkerCount(integerLiteral: jobs)
        print("swift-joblib demo: \(items) Asian options, \(Pricing.paths) paths × \(Pricing.steps) steps each")
        print("  workers: \(try workers.resolved()) processes (\(cpuCount()) usable CPUs); cache: \(cache)/")

        // 1. The cache answers what it can, in this process: a hit is one small file read.
        let memory = Memory(location: cache, verbose: 0)
        let pricer = cachedPricer(memory)
        var outcomes = [Result<Pricing, any Error>?](repeating: nil, count: items)
        var hits = 0
        var savedSeconds = 0.0
        for (index, contract) in book.enumerated() where try pricer.checkCallInCache(contract) {
            let pricing = try pricer(contract)
            outcomes[index] = .success(pricing)
            hits += 1
            savedSeconds += pricing.seconds
        }

        // 2. The rest runs on worker processes, through the same cache; one failure costs one item.
        let missing = outcomes.indices.filter { outcomes[$0] == nil }
        var computeWall = 0.0
        if !missing.isEmpty {
            print("  pricing \(plural(missing.count, "contract")) not in the cache…")
            let parallel = Parallel(jobs: workers, backend: .processes, verbose: 10)
            let tasks = missing.map { PriceContract(contract: book[$0], cacheDirectory: cache) }
            let start = ContinuousClock.now
            let results = parallel.results(tasks)
            computeWall = seconds(ContinuousClock.now - start)
            for (taskIndex, result) in results.enumerated() { outcomes[missing[taskIndex]] = result }
        }

        var failed: [Int] = []
        var computedSeconds = 0.0
        for (index, outcome) in outcomes.enumerated() {
            switch outcome {
            case .success(let pricing):
                if missing.contains(index) { computedSeconds += pricing.seconds }
            case .failure(let error):
                failed.append(index)
                print("  item \(index) failed: \(summary(of: error))")
            case nil:
                preconditionFailure("item \(index) has no outcome")
            }
        }

        // 3. The arrays, saved raw (mappable) and with zstd, then loaded back.
        let results = assemble(book: book, outcomes: outcomes, failed: failed)
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        let rawPath = "\(cache)/results.joblib"
        let zstdPath = "\(cache)/results.joblib.zst"
        try dump(results, to: rawPath, compression: .none)
        try dump(results, to: zstdPath, compression: .zstd(level: 3))
        let mapStart = ContinuousClock.now
        let mapped = try load(BookResults.self, from: rawPath, mapping: .readOnly)
        let mapTime = ContinuousClock.now - mapStart
        let unpacked = try load(BookResults.self, from: zstdPath)
        guard mapped.sameValues(as: results), unpacked.sameValues(as: results) else {
            throw ValidationError("the reloaded arrays differ from the saved ones")
        }

        // 4. The summary.
        let priced = items - failed.count
        let best = results.prices.indices.filter { !results.prices[$0].isNaN }.max { results.prices[$0] < results.prices[$1] }
        print("")
        print("summary")
        print("  priced \(priced) of \(items) contracts; failed items: \(failed.isEmpty ? "none" : failed.map(String.init).joined(separator: ", "))")
        if let best {
            print("  most valuable: contract \(best), \(format(results.prices[best])) ± \(format(results.standardErrors[best]))")
        }
        print("  wall time: \(format(seconds(ContinuousClock.now - runStart))) s")
        if missing.isEmpty {
            print("  computed: nothing (every contract came from the cache)")
        } else if computedSeconds > 0 && computeWall > 0 {
            print("  computed: \(plural(missing.count - failed.filter(missing.contains).count, "contract")) in \(format(computeWall)) s; "
                + "speedup against one worker: \(format(computedSeconds / computeWall))× (the tasks' own time / wall time)")
        } else {
            print("  computed: nothing new (the \(plural(missing.count, "item")) not in the cache failed)")
        }
        print("  cache: \(plural(hits, "hit")), \(plural(items - hits, "miss", "misses")); the hits saved \(format(savedSeconds)) s of computation")
        print("  results: \(rawPath) \(size(of: rawPath)) raw, loaded mapped in \(format(seconds(mapTime) * 1000)) ms; "
            + "\(zstdPath) \(size(of: zstdPath)) with zstd")
    }

    /// The outcomes as arrays, with NaN rows for the failed items.
    func assemble(book: [Contract], outcomes: [Result<Pricing, any Error>?], failed: [Int]) -> BookResults {
        var prices: [Double] = []
        var errors: [Double] = []
        var distributions: [Double] = []
        for outcome in outcomes {
            if case .success(let pricing) = outcome {
                prices.append(pricing.price)
                errors.append(pricing.standardError)
                distributions += pricing.distribution
            } else {
                prices.append(.nan)
                errors.append(.nan)
                distributions += [Double](repeating: .nan, count: Pricing.bins)
            }
        }
        return BookResults(
            contractIDs: book.map(\.id), prices: NDArray(prices), standardErrors: NDArray(errors),
            distributions: NDArray(shape: [book.count, Pricing.bins], distributions), failedItems: failed)
    }
}

/// One line about a failed item: how its worker died and the first line it printed.
func summary(of error: any Error) -> String {
    guard let error = error as? ParallelError, error.code == .workerDied else { return "\(error)" }
    let said = (error.stderrTail ?? "").split(separator: "\n").first { $0.contains("error") || $0.contains("volatility") }
    let how = error.exitStatus.map { "\($0)" } ?? "an unknown status"
    return "its worker process died (\(how)); the other items went on"
        + (said.map { "\n    the worker said: \($0.trimmingCharacters(in: .whitespaces))" } ?? "")
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func plural(_ count: Int, _ noun: String, _ plural: String? = nil) -> String {
    "\(count) \(count == 1 ? noun : plural ?? noun + "s")"
}

func format(_ value: Double) -> String { String(format: value < 10 ? "%.2f" : "%.1f", value) }

func size(of path: String) -> String {
    let bytes = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int
    return "\(ByteCount(bytes: bytes ?? 0))"
}
