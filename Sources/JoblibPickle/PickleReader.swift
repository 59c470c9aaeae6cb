/// Reads a pickle stream as data: a small stack machine that interprets opcodes into
/// ``PythonValue``s and never imports, calls or executes anything (PickleFormat.md).
///
/// Every length is checked against the bytes left before it is used, the memo, the nesting and
/// the memory allocated are bounded (``PickleLimits``), and any violation is a ``PickleError``.
package struct PickleReader {
    /// The whole input; the stream starts at `start`.
    let bytes: UnsafeRawBufferPointer
    /// Keeps `bytes` alive for arrays that view them; nil makes arrays copy their bytes.
    let owner: AnyObject?
    let limits: PickleLimits
    var position: Int
    var stack: [PickleNode] = []
    var marks: [Int] = []
    var memo: [Int: PickleNode] = [:]
    var allocated = 0
    /// The protocol the stream declared with `PROTO` (0 when it did not).
    package internal(set) var protocolVersion = 0
    let nesting: Int
    /// Every node pushed, so that the graph can be taken apart without recursion at the end.
    let arena: NodeArena

    /// What a read produced.
    package struct Result {
        /// The value.
        package var value: PythonValue
        /// The protocol the stream declared.
        package var protocolVersion: Int
        /// The offset just after the `STOP` opcode.
        package var end: Int
    }

    init(bytes: UnsafeRawBufferPointer, at start: Int, owner: AnyObject?, limits: PickleLimits, nesting: Int, allocated: Int, arena: NodeArena) {
        self.arena = arena
        self.bytes = bytes
        self.owner = owner
        self.limits = limits
        self.position = start
        self.nesting = nesting
        self.allocated = allocated
    }

    /// Reads one pickle from `bytes`, which must end right after its `STOP` opcode.
    ///
    /// - Parameter owner: Keeps `bytes` alive; arrays then view their bytes in place instead of
    ///   copying them (a file mapping, or the buffer a file was read into).
    /// - Throws: ``PickleError``.
    package static func read(_ bytes: UnsafeRawBufferPointer, owner: AnyObject?, limits: PickleLimits = PickleLimits()) throws(PickleError) -> Result {
        let arena = NodeArena()
        defer { arena.release() }
        var reader = PickleReader(bytes: bytes, at: 0, owner: owner, limits: limits, nesting: 0, allocated: 0, arena: arena)
        let node = try reader.run()
        guard reader.position == bytes.count else {
            throw PickleError(.malformed, "\(bytes.count - reader.position) bytes follow the pickle's STOP opcode", offset: reader.position)
        }
        return Result(value: try node.value(depth: 0, limits: limits), protocolVersion: reader.protocolVersion, end: reader.position)
    }

    /// Runs opcodes until `STOP`; returns the node on top of the stack.
    mutating func run() throws(PickleError) -> PickleNode {
        while true {
            let opcodeOffset = position
            let opcode = try readByte()
            do {
                if let done = try execute(opcode) { return done }
            } catch var error {
                if error.offset == nil { error.offset = opcodeOffset }
                throw error
            }
        }
    }

    // MARK: Input

    mutating func readByte() throws(PickleError) -> UInt8 {
        guard position < bytes.count else { throw truncated("an opcode") }
        defer { position += 1 }
        return bytes[position]
    }

    /// `count` bytes, checked against what is left.
    mutating func take(_ count: Int, _ what: @autoclosure () -> String) throws(PickleError) -> UnsafeRawBufferPointer {
        guard count >= 0 else { throw PickleError(.malformed, "\(what()) has a negative length (\(count))", offset: position) }
        guard count <= bytes.count - position else {
            throw PickleError(.truncated, "\(what()) needs \(count) bytes but only \(bytes.count - position) are left", offset: position)
        }
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<position + count])
    }

    mutating func readUInt(_ width: Int, _ what: String) throws(PickleError) -> UInt64 {
        let raw = try take(width, what)
        var value: UInt64 = 0
        for index in 0..<width { value |= UInt64(raw[index]) << (8 * index) }
        return value
    }

    /// A length field of `width` bytes, as `Int`; lengths beyond the input fail in `take`.
    mutating func readLength(_ width: Int, _ what: String) throws(PickleError) -> Int {
        let value = try readUInt(width, what)
        guard value <= UInt64(Int.max) else {
            throw PickleError(.truncated, "\(what) claims \(value) bytes, more than the input holds", offset: position)
        }
        return Int(value)
    }

    /// A newline-terminated line (GLOBAL, INST), at most 4 KiB.
    mutating func readLine(_ what: String) throws(PickleError) -> String {
        let start = position
        while position < bytes.count && bytes[position] != 0x0A {
            position += 1
            guard position - start <= 4096 else { throw PickleError(.malformed, "\(what) is longer than 4096 bytes", offset: start) }
        }
        guard position < bytes.count else { throw truncated(what) }
        defer { position += 1 }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
    }

    func truncated(_ what: String) -> PickleError {
        PickleError(.truncated, "the stream ends inside \(what): the file was cut short", offset: position)
    }

    // MARK: Stack, memo, budget

    mutating func push(_ node: PickleNode) throws(PickleError) {
        try charge(72)
        stack.append(node)
        arena.nodes.append(node)
    }

    mutating func push(_ value: PythonValue) throws(PickleError) { try push(PickleNode(value: value)) }

    mutating func pop(_ what: String) throws(PickleError) -> PickleNode {
        guard let last = stack.last, stack.count > (marks.last ?? 0) else {
            throw PickleError(.malformed, "\(what) needs a value but the stack is empty")
        }
        stack.removeLast()
        return last
    }

    var top: PickleNode? { stack.count > (marks.last ?? 0) ? stack.last : nil }

    /// Pops everything above the last mark, and the mark.
    mutating func popMark(_ what: String) throws(PickleError) -> [PickleNode] {
        guard let mark = marks.popLast() else { throw PickleError(.malformed, "\(what) needs a MARK but there is none") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    mutating func charge(_ bytes: Int) throws(PickleError) {
        allocated += bytes
        guard allocated <= limits.maxAllocation else {
            throw PickleError(.limitExceeded, "reading the pickle would allocate more than \(limits.maxAllocation) bytes")
        }
    }

    mutating func memoize(_ index: Int) throws(PickleError) {
        guard let node = top else { throw PickleError(.malformed, "a memo store needs a value but the stack is empty") }
        if memo[index] == nil {
            guard memo.count < limits.maxMemoEntries else {
                throw PickleError(.limitExceeded, "the pickle stores more than \(limits.maxMemoEntries) memo entries")
            }
            try charge(64)
        }
        memo[index] = node
    }

    func recall(_ index: Int) throws(PickleError) -> PickleNode {
        guard let node = memo[index] else { throw PickleError(.malformed, "the pickle refers to memo entry \(index), which was never stored") }
        return node
    }
}

/// Holds every node of one read. Nodes can nest without limit while a stream is read (a list in
/// a list in a list…); releasing such a chain the ordinary way would recurse once per level and
/// overflow the stack, so `release` first empties every node, then drops them side by side.
final class NodeArena {
    var nodes: [PickleNode] = []

    func release() {
        for node in nodes { node.kind = .leaf(.none) }
        nodes = []
    }
}
