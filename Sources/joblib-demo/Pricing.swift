// The work of the demo: pricing a book of Asian options by Monte Carlo simulation.
//
// Each contract is priced from its own seeded random paths, so a result depends on the contract
// alone: it can be computed in any worker, cached on disk and found again in the next run.
import Foundation
import Joblib

/// One option contract of the book. Contract 137 (or the middle one of a small book) arrives with
/// a negative volatility, as if an upstream feed had a sign error: pricing it traps (fatalError) the
/// worker that runs it.
struct Contract: Codable, Sendable, Hashable {
    var id: Int
    var spot: Double
    var strike: Double
    var years: Double
    var rate: Double
    var volatility: Double

    /// The book of `count` contracts, the same in every run.
    static func book(count: Int) -> [Contract] {
        let bad = badIndex(count: count)
        return (0..<count).map { id in
            var random = SplitMix64(seed: UInt64(id) &* 0x9E37_79B9 &+ 7)
            let spot = 100.0
            return Contract(
                id: id, spot: spot, strike: spot * (0.8 + 0.4 * random.nextUnit()), years: 0.25 + 1.75 * random.nextUnit(),
                rate: 0.01 + 0.04 * random.nextUnit(), volatility: id == bad ? -0.2 : 0.1 + 0.4 * random.nextUnit())
        }
    }

    /// The index of the contract with the bad volatility.
    static func badIndex(count: Int) -> Int { count > 137 ? 137 : count / 2 }
}

/// The price of one contract, and what its computation cost.
struct Pricing: Codable, Sendable {
    /// The discounted mean payoff.
    var price: Double
    /// The standard error of that mean.
    var standardError: Double
    /// The distribution of the average underlying price over the paths: `bins` shares that sum to 1.
    var distribution: [Double]
    /// How long the simulation took, in seconds (what a cache hit saves).
    var seconds: Double

    static let bins = 64
    static let paths = 6_000
    static let steps = 64
}

/// Prices an arithmetic-average Asian call: geometric Brownian motion sampled at `steps` dates.
func price(_ contract: Contract) -> Pricing {
    // fatalError rather than precondition: its message survives -O, so the parent can show it.
    guard contract.volatility > 0 else {
        fatalError("contract \(contract.id): volatility \(contract.volatility) is not positive; the input feed is corrupt")
    }
    let start = ContinuousClock.now
    var random = SplitMix64(seed: UInt64(contract.id) &+ 0xC0FF_EE)
    let dt = contract.years / Double(Pricing.steps)
    let drift = (contract.rate - 0.5 * contract.volatility * contract.volatility) * dt
    let diffusion = contract.volatility * dt.squareRoot()
    let discount = exp(-contract.rate * contract.years)
    var sum = 0.0
    var sumOfSquares = 0.0
    var histogram = [Double](repeating: 0, count: Pricing.bins)
    let low = contract.spot * 0.5
    let width = contract.spot * 1.5 / Double(Pricing.bins)
    for _ in 0..<Pricing.paths {
        var logPrice = log(contract.spot)
        var total = 0.0
        for _ in 0..<Pricing.steps {
            logPrice += drift + diffusion * random.nextNormal()
            total += exp(logPrice)
        }
        let average = total / Double(Pricing.steps)
        let payoff = discount * max(average - contract.strike, 0)
        sum += payoff
        sumOfSquares += payoff * payoff
        let bin = Int(((average - low) / width).rounded(.down))
        histogram[min(max(bin, 0), Pricing.bins - 1)] += 1
    }
    let n = Double(Pricing.paths)
    let mean = sum / n
    let variance = max(sumOfSquares / n - mean * mean, 0)
    let elapsed = ContinuousClock.now - start
    return Pricing(
        price: mean, standardError: (variance / n).squareRoot(), distribution: histogram.map { $0 / n },
        seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
}

/// The cached pricer: the parent asks it for hits, the workers compute through it, so both must
/// use the same name and version (the version is part of every key: bump it when `price` changes).
func cachedPricer(_ memory: Memory) -> CachedFunction<Contract, Pricing> {
    memory.cache(name: "price-asian-option", version: 1) { (contract: Contract) in price(contract) }
}

/// One contract priced in a worker process, through the cache in `cacheDirectory`.
///
/// A file-scope type: worker processes find task types by name.
struct PriceContract: ParallelTask {
    var contract: Contract
    var cacheDirectory: String

    func run() throws -> Pricing {
        try cachedPricer(Memory(location: cacheDirectory, verbose: 0))(contract)
    }
}

/// SplitMix64: small, fast and good enough for a demo's simulation.
struct SplitMix64 {
    private var state: UInt64
    private var spareNormal: Double?

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Standard normal (Box–Muller, both values used).
    mutating func nextNormal() -> Double {
        if let spare = spareNormal {
            spareNormal = nil
            return spare
        }
        let u = max(nextUnit(), 0x1p-53)
        let v = nextUnit()
        let radius = (-2 * log(u)).squareRoot()
        spareNormal = radius * sin(2 * .pi * v)
        return radius * cos(2 * .pi * v)
    }
}
