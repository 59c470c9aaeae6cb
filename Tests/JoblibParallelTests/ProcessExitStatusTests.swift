import JoblibSystem
import Testing
@testable import JoblibParallel

/// The public status says what JoblibSystem's wait status says, to the byte.
@Suite struct ProcessExitStatusTests {
    @Test func aWaitStatusConvertsCaseForCase() {
        #expect(ProcessExitStatus(WaitStatus.exited(3)) == .exited(3))
        #expect(ProcessExitStatus(WaitStatus.signaled(9)) == .signaled(9))
    }

    @Test func itReadsAsTheWaitStatus() {
        #expect(ProcessExitStatus.signaled(11).description == "signal 11 (SIGSEGV)")
        #expect(ProcessExitStatus.exited(3).description == "exit status 3")
        #expect("\(ProcessExitStatus.signaled(11))" == "signal 11 (SIGSEGV)")
        #expect(ProcessExitStatus.signaled(11).explained == "signal 11 (SIGSEGV: a segmentation fault: an invalid memory access)")
        let statuses: [(ProcessExitStatus, WaitStatus)] = [
            (.exited(0), .exited(0)), (.exited(7), .exited(7)), (.signaled(4), .signaled(4)), (.signaled(9), .signaled(9)),
            (.signaled(6), .signaled(6)), (.signaled(40), .signaled(40)),
        ]
        for (status, wait) in statuses {
            #expect(status.description == wait.description)
            #expect(status.explained == wait.explained)
        }
    }
}
