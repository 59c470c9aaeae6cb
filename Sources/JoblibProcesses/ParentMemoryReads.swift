import JoblibCoding
import JoblibSystem
import JoblibTypes
import Synchronization

/// Whether a worker may read its parent's memory (``ProcessMemory``), found out once per worker
/// before it says `ready`: the parent names eight random bytes of its own in the worker's
/// environment, and the worker reads them. A kernel or container that refuses the read (another
/// user, a non-dumpable parent, Yama's `ptrace_scope`, a seccomp profile) makes the answer no,
/// and the parent then writes that worker's large arrays into the call's memory file instead.
enum ParentMemoryProbe {
    static let environmentName = "JOBLIB_WORKER_MEMORY_PROBE"

    /// Eight random bytes, and the address of a copy that lives as long as the process.
    private static let token = UInt64.random(in: 1 ... .max)
    private static let address: UInt = {
        let word = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        word.initialize(to: token)
        return UInt(bitPattern: word)
    }()

    /// Test hook: workers started while it is set are pointed at an address where nothing is
    /// mapped, so their probe fails the way a refused read does and they take the memory-file path.
    package static let failsForTesting = Atomic<Bool>(false)

    /// The variable's value for a worker this process starts: the word's address and contents (hex).
    static var variableValue: String {
        let named = failsForTesting.load(ordering: .relaxed) ? UInt(16) : address
        return String(named, radix: 16) + ":" + String(token, radix: 16)
    }

    /// The worker's side: whether the word named in its environment reads back intact from its
    /// parent. Removes the variable (processes a task starts do not need it).
    static func parentIsReadable() -> Bool {
        guard let value = environmentValue(environmentName) else { return false }
        removeEnvironmentValue(environmentName)
        let parts = value.split(separator: ":")
        guard parts.count == 2, let address = UInt(parts[0], radix: 16), let expected = UInt64(parts[1], radix: 16) else {
            return false
        }
        var found: UInt64 = 0
        let count = withUnsafeMutableBytes(of: &found) { try? ProcessMemory.read(from: parentProcessID, address: address, into: $0) }
        return count == 8 && found == expected
    }
}

/// A worker's reads of arrays that stayed in the parent's memory (``SectionEntry/address``).
///
/// The parent is trusted (it started us, the batch comes from it), but a bug there must not
/// become a crash or wrong data here: the process must be the parent, the size must be one the
/// machine could hold, and a read that comes back short (the parent's array gone, which the
/// parent's arena makes impossible) fails the task that needed it with a clear error.
enum ParentMemorySection {
    /// Checks a section's place before anything is allocated for it.
    static func check(_ entry: SectionEntry, pid: Int32, readableProcess: Int32) throws {
        guard pid == readableProcess, pid > 0 else {
            throw ProtocolError("the batch asks to read shared array \(entry.number) from process \(pid), which is not this worker's parent")
        }
        guard entry.byteCount <= physicalMemoryBytes() else {
            throw ProtocolError("shared array \(entry.number) claims \(ByteCount(bytes: entry.byteCount)), more than this machine's memory")
        }
        guard let address = entry.address, address != 0, address <= UInt64(UInt.max) - UInt64(entry.byteCount) else {
            throw ProtocolError("shared array \(entry.number) has an address range that wraps around")
        }
    }

    /// The section as the decoder sees it: copied in from the parent when the value is made.
    static func section(_ entry: SectionEntry, address: UInt64, pid: Int32) -> BulkSection {
        BulkSection(byteCount: entry.byteCount) { destination in
            guard destination.count == entry.byteCount else {
                throw ProtocolError("shared array \(entry.number) of \(entry.byteCount) bytes read into \(destination.count)")
            }
            let count: Int
            do {
                count = try ProcessMemory.read(from: pid, address: UInt(address), into: destination)
            } catch {
                throw ProtocolError("could not read shared array \(entry.number) (\(ByteCount(bytes: entry.byteCount))) from the parent process: \(error)")
            }
            guard count == entry.byteCount else {
                throw ProtocolError(
                    "read \(count) of the \(entry.byteCount) bytes of shared array \(entry.number) from the parent process (its memory ended)")
            }
            MappedArena.parentReadCount.add(1, ordering: .relaxed)
        }
    }
}
