import CJoblibSystem

/// Reading another process's memory directly (`process_vm_readv`): one copy, from its pages into
/// ours, with no file or mapping in between.
///
/// The kernel allows it under the rules of `ptrace` attach: the same user, a process that did
/// not make itself non-dumpable, and no policy against it (a Yama `ptrace_scope` above 0 lets a
/// process read only its descendants; a container's seccomp profile may refuse the call with
/// `EPERM` or `ENOSYS`). Callers must have another way.
package enum ProcessMemory {
    /// Copies the bytes at `address` in process `pid` into `destination`, in as many calls as the
    /// kernel needs.
    ///
    /// - Returns: how many bytes were copied: fewer than `destination.count` when the range runs
    ///   into memory that process does not have mapped.
    /// - Throws: ``SystemError`` with `EPERM` (not allowed, see above), `ENOSYS` (refused by a
    ///   seccomp filter), `ESRCH` (no such process) or `EFAULT` (nothing mapped at `address`).
    package static func read(
        from pid: Int32, address: UInt, into destination: UnsafeMutableRawBufferPointer
    ) throws(SystemError) -> Int {
        guard let local = destination.baseAddress, destination.count > 0 else { return 0 }
        // A range that wraps around the address space is not memory of any process.
        guard address != 0, address <= UInt.max - UInt(destination.count) else {
            throw SystemError("process_vm_readv", errno: .badAddress)
        }
        var done = 0
        while done < destination.count {
            let remote = UnsafeRawPointer(bitPattern: address + UInt(done))!
            let count = try systemCall("process_vm_readv") {
                joblib_process_vm_read(pid, local + done, remote, destination.count - done)
            }
            if count <= 0 { break }
            done += count
        }
        return done
    }

    /// Whether other processes of this user may read this process's memory (it is "dumpable":
    /// a program that called `prctl(PR_SET_DUMPABLE, 0)`, or runs set-user-ID, is not).
    package static var isReadableBySameUser: Bool { joblib_is_dumpable() == 1 }
}
