import Testing

/// Every example under Examples/ runs to completion and prints what its comments promise.
@Suite(.timeLimit(.minutes(1)))
struct ExampleTests {
    @Test func parallel() throws {
        let run = try Tool.run("example-parallel", [])
        #expect(run.status == 0, "stderr: \(run.errors)")
        #expect(run.output.contains("primes below 100000: 9592"))
        #expect(run.output.contains("task 0: 15"))
        #expect(run.output.contains("task 1 failed: negativeLimit(-1)"))
    }

    @Test func memory() throws {
        let run = try Tool.run("example-memory", [])
        #expect(run.status == 0, "stderr: \(run.errors)")
        #expect(run.output.contains("second call (from the cache)"))
        #expect(run.output.contains("in the cache: true; another argument: false"))
    }

    @Test func persistence() throws {
        let run = try Tool.run("example-persistence", [])
        #expect(run.status == 0, "stderr: \(run.errors)")
        #expect(run.output.contains("weights [784, 10]"))
        #expect(run.output.contains("loading as the wrong type: typeMismatch"))
        #expect(run.output.contains("weights.npy: shape [784, 10]"))
    }
}
