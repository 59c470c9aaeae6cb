import Testing
@testable import JoblibSystem

/// The texts a crash report prints: users and tests match on them, so they are pinned to the byte.
@Suite struct WaitStatusTests {
    @Test func theRawStatusIsDecodedAsWaitpidEncodesIt() {
        #expect(WaitStatus(rawStatus: 0) == .exited(0))
        #expect(WaitStatus(rawStatus: 3 << 8) == .exited(3))
        #expect(WaitStatus(rawStatus: 255 << 8) == .exited(255))
        #expect(WaitStatus(rawStatus: 9) == .signaled(9))
        #expect(WaitStatus(rawStatus: 11 | 0x80) == .signaled(11))  // the core-dump bit is not the signal
    }

    @Test func statusesAreNamed() {
        #expect(WaitStatus.exited(3).description == "exit status 3")
        #expect(WaitStatus.signaled(11).description == "signal 11 (SIGSEGV)")
        #expect(WaitStatus.signaled(9).description == "signal 9 (SIGKILL)")
        #expect(WaitStatus.signaled(63).description == "signal 63 (signal 63)")
    }

    @Test func statusesInWords() {
        #expect(WaitStatus.exited(0).explained == "exit status 0 (the task called exit(0))")
        #expect(WaitStatus.exited(1).explained == "exit status 1 (the task called exit)")
        #expect(WaitStatus.signaled(4).explained == "signal 4 (SIGILL: a Swift runtime trap: fatalError, a failed "
            + "precondition, an index out of range, an arithmetic overflow or a force-unwrapped nil)")
        #expect(WaitStatus.signaled(5).explained.hasPrefix("signal 5 (SIGTRAP: a Swift runtime trap: "))
        #expect(WaitStatus.signaled(11).explained == "signal 11 (SIGSEGV: a segmentation fault: an invalid memory access)")
        #expect(WaitStatus.signaled(9).explained
            == "signal 9 (SIGKILL: killed: by a timeout, from outside, or by the system's out-of-memory killer)")
        #expect(WaitStatus.signaled(6).explained == "signal 6 (SIGABRT: aborted (abort(), or a C++ exception nobody caught))")
        #expect(WaitStatus.signaled(15).explained == "signal 15 (SIGTERM: terminated from outside)")
        #expect(WaitStatus.signaled(1).explained == "signal 1 (SIGHUP: killed by a signal)")
    }
}
