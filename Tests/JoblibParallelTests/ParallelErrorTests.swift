import JoblibParallel
import Testing

/// ParallelError prints like every library error (`JoblibError`): its cause once, in brackets.
@Suite struct ParallelErrorTests {
    private struct Refused: Error, CustomStringConvertible {
        var description: String { "EAGAIN" }
    }

    @Test func causeIsPrintedOnceInBrackets() {
        let error = ParallelError(.workerUnavailable, "could not start a worker thread", underlying: Refused())
        #expect(error.description == "ParallelError.workerUnavailable: could not start a worker thread [EAGAIN]")
        let said = ParallelError(.workerStartFailed, "could not start a worker process: EAGAIN", underlying: Refused())
        #expect(said.description == "ParallelError.workerStartFailed: could not start a worker process: EAGAIN")
        #expect(said.code == .workerStartFailed && said.underlying is Refused)
    }
}
