import JoblibCoding
import JoblibSystem
import Synchronization
import SystemPackage

// Large arrays in task outputs, sent back through shared memory instead of the result pipe
// (WorkerProtocol.md, "Large results"). The worker writes them into an anonymous memory file,
// passes its descriptor to the parent over the task socket (SCM_RIGHTS) right before the
// `results` frame that refers to it, and forgets it; the parent takes the descriptor when it
// reads that frame. A descriptor in flight belongs to the socket, so a worker that dies between
// the two, or a frame that is never read, leaks nothing: closing the socket frees it.

/// Where a `results` frame's large arrays are: `fileCount` memory files, passed just before the
/// frame, and the sections in them (`SectionEntry.fd` is the file's position among them).
struct ResultFiles: Codable {
    var fileCount: Int
    var sections: [SectionEntry]
}

/// The worker's side: stores the large arrays of one `results` frame's outputs out of line.
///
/// Arrays are copied into one memory file of the frame's own (one `pwrite` each, no mapping, so
/// no page faults here); an `NDArray` already in shared memory (`NDArray(sharedShape:)`) is not
/// copied: its own file is passed.
final class ResultSectionWriter: BulkSectionWriter {
    let threshold: Int
    private var file: FileDescriptor?
    private var size = 0
    private var sections: [SectionEntry] = []
    /// Files passed as they are (shared blocks), after the frame's own file when there is one.
    private var blocks: [SharedMemoryBlock] = []
    private var stored: [SharedArgumentArena.Pair: UInt64] = [:]

    init(threshold: Int) { self.threshold = threshold }

    func storeSection(_ bytes: UnsafeRawBufferPointer, elementType: BulkElementType, count: Int, owner: any Sendable) throws -> UInt64? {
        guard bytes.count >= threshold, let base = bytes.baseAddress else { return nil }
        let key = SharedArgumentArena.Pair(address: UInt(bitPattern: base), count: bytes.count)
        if let number = stored[key] { return number }
        let number = UInt64(sections.count)
        // Passed files: the frame's own (when made) plus the blocks, within one message.
        if let (block, offset) = SharedMemoryBlock.containing(bytes), blocks.count + 1 < maximumPassedDescriptors {
            let position = blocks.firstIndex { $0 === block } ?? blocks.count
            if position == blocks.count { blocks.append(block) }
            // Positions of blocks are fixed up in `files` once it is known whether there is an own file.
            sections.append(SectionEntry(number: number, offset: offset, byteCount: bytes.count, fd: Int32(-1 - position)))
        } else {
            if file == nil { file = try SharedMemoryFile.create(name: "joblib-results", size: 0) }
            // 64-byte alignment keeps every element type aligned in the parent's mapping.
            let offset = (size + 63) & ~63
            try file!.writeAll(bytes, at: offset)
            size = offset + bytes.count
            sections.append(SectionEntry(number: number, offset: offset, byteCount: bytes.count, fd: 0))
        }
        stored[key] = number
        return number
    }

    /// The descriptors to pass, in order, and the frame's description of them; nil when every
    /// array went inline.
    func files() -> (descriptors: [FileDescriptor], files: ResultFiles)? {
        guard !sections.isEmpty else { return nil }
        let own = file.map { [$0] } ?? []
        let descriptors = own + blocks.map(\.fd)
        let entries = sections.map { entry -> SectionEntry in
            var entry = entry
            if let fd = entry.fd, fd < 0 { entry.fd = Int32(own.count) + (-1 - fd) }
            return entry
        }
        return (descriptors, ResultFiles(fileCount: descriptors.count, sections: entries))
    }

    /// Closes the frame's own file (the parent holds its own descriptor by now, or it is freed).
    func close() {
        try? file?.close()
        file = nil
        blocks = []
    }

    /// Forgets everything stored (the outputs are encoded again after one failed).
    func reset() {
        close()
        size = 0
        sections = []
        stored = [:]
    }

    deinit { close() }
}

/// The parent's side: the memory files a `results` frame refers to, adopted as shared-memory
/// blocks (mapped read-write, shared), serving the frame's sections to the decoder. An `NDArray`
/// output keeps its section in place (no copy: it is then in shared memory, as if made with
/// `NDArray(sharedShape:)`); a `[T]` output is copied out once.
final class ReceivedResultSections: BulkSectionReader {
    private let blocks: [SharedMemoryBlock]
    private let sections: [UInt64: SectionEntry]

    /// Adopts `descriptors` (it owns them from now on, also when it throws) and checks that
    /// every section lies inside its file.
    init(descriptors: [FileDescriptor], files: ResultFiles) throws {
        var remaining = descriptors[...]
        var blocks: [SharedMemoryBlock] = []
        var sizes: [Int] = []
        do {
            guard descriptors.count == files.fileCount else {
                throw ProtocolError("a results frame names \(files.fileCount) memory files, \(descriptors.count) came")
            }
            // A block closes its descriptor when it goes (or when adopting fails).
            while let fd = remaining.popFirst() {
                let block = try SharedMemoryBlock(adopting: fd)
                blocks.append(block)
                sizes.append(try block.fd.fileSize())
            }
        } catch {
            remaining.forEach { try? $0.close() }
            throw error
        }
        for entry in files.sections {
            guard let fd = entry.fd, fd >= 0, Int(fd) < blocks.count, entry.offset >= 0, entry.byteCount >= 0,
                  entry.offset <= sizes[Int(fd)] - entry.byteCount
            else { throw ProtocolError("a results frame refers to a section outside its memory files") }
        }
        self.blocks = blocks
        Self.adoptedFiles.add(blocks.count, ordering: .relaxed)
        sections = Dictionary(files.sections.map { ($0.number, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// How many memory files this process has received with results (tests: large outputs came
    /// through shared memory, small ones did not).
    package static let adoptedFiles = Atomic<Int>(0)

    func section(_ number: UInt64, elementType: BulkElementType, count: Int) throws -> BulkSection {
        guard let entry = sections[number], let fd = entry.fd else {
            throw ProtocolError("an output refers to shared array \(number), which the worker did not send")
        }
        let block = blocks[Int(fd)]
        let bytes = UnsafeRawBufferPointer(rebasing: block.mapping.bytes[entry.offset..<(entry.offset + entry.byteCount)])
        return BulkSection(bytes: bytes, owner: block)
    }
}

extension WorkerRuntime {
    /// Sends a `results` frame: first the memory files its large arrays are in (over the task
    /// socket), then the frame. The worker's copies of the files are closed after passing.
    static func send(_ batch: ResultBatch, files writer: ResultSectionWriter?, on results: FrameChannel) throws {
        defer { writer?.close() }
        if let (descriptors, _) = writer?.files() {
            ResultFileFault.reach(.filesWritten)
            try FileDescriptor(rawValue: WorkerEnvironment.taskDescriptor).sendDescriptors(descriptors)
            ResultFileFault.reach(.filesPassed)
        }
        let body = try batch.frameBody()
        if batch.files != nil, ResultFileFault.isArmed(.frameHalfSent) {
            let frame = try FrameChannel.frame(.results, body: body)
            try frame.withUnsafeBytes { try results.fd.writeAll(UnsafeRawBufferPointer(rebasing: $0.prefix(frame.count / 2))) }
            ResultFileFault.reach(.frameHalfSent)
        }
        try results.send(.results, body: body)
    }
}

/// Test hook: a task sets it to have its worker killed (`SIGKILL`) at that point of sending the
/// next `results` frame that carries memory files. Package access, unset in normal runs.
package enum ResultFileFault: UInt8, Sendable {
    /// The arrays are in the frame's memory file; nothing is passed yet.
    case filesWritten = 1
    /// The files are passed (in the socket); the frame is not sent.
    case filesPassed
    /// Half the frame is sent.
    case frameHalfSent

    package static let armed = Atomic<UInt8>(0)

    /// Arms the fault in this process (a worker: call it from a task's `run()`).
    package static func arm(_ fault: ResultFileFault) { armed.store(fault.rawValue, ordering: .relaxed) }

    static func isArmed(_ fault: ResultFileFault) -> Bool { armed.load(ordering: .relaxed) == fault.rawValue }

    static func reach(_ fault: ResultFileFault) {
        if isArmed(fault) { killThisProcess() }
    }
}
