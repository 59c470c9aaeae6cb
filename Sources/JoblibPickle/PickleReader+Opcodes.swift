extension PickleReader {
    /// Executes one opcode; returns the result at `STOP`.
    mutating func execute(_ opcode: UInt8) throws(PickleError) -> PickleNode? {
        switch opcode {
        case Opcode.proto:
            let version = Int(try readByte())
            guard version <= 5 else {
                throw PickleError(.unsupportedFeature, "pickle protocol \(version) is newer than this reader (protocols 2 to 5)")
            }
            protocolVersion = version
        case Opcode.frame:
            // Frames only group opcodes for buffering; the opcodes inside are read as usual.
            let length = try readLength(8, "a FRAME length")
            guard length <= bytes.count - position else { throw truncated("a frame of \(length) bytes") }
        case Opcode.stop:
            let result = try pop("STOP")
            return result
        case Opcode.none: try push(.none)
        case Opcode.newTrue: try push(.bool(true))
        case Opcode.newFalse: try push(.bool(false))
        case Opcode.binInt: try push(.int(Int(Int32(truncatingIfNeeded: try readUInt(4, "BININT")))))
        case Opcode.binInt1: try push(.int(Int(try readByte())))
        case Opcode.binInt2: try push(.int(Int(try readUInt(2, "BININT2"))))
        case Opcode.long1: try push(try readLong(try readLength(1, "LONG1")))
        case Opcode.long4:
            let length = Int32(truncatingIfNeeded: try readUInt(4, "LONG4"))
            try push(try readLong(Int(length)))
        case Opcode.binFloat: try push(.float(Double(bitPattern: UInt64(bigEndian: try readUInt(8, "BINFLOAT").littleEndian))))
        case Opcode.shortBinUnicode: try push(.string(try readString(try readLength(1, "SHORT_BINUNICODE"))))
        case Opcode.binUnicode: try push(.string(try readString(try readLength(4, "BINUNICODE"))))
        case Opcode.binUnicode8: try push(.string(try readString(try readLength(8, "BINUNICODE8"))))
        case Opcode.shortBinBytes: try push(.bytes(try readBytes(try readLength(1, "SHORT_BINBYTES"))))
        case Opcode.binBytes: try push(.bytes(try readBytes(try readLength(4, "BINBYTES"))))
        case Opcode.binBytes8: try push(.bytes(try readBytes(try readLength(8, "BINBYTES8"))))
        case Opcode.byteArray8: try push(.byteArray(try readBytes(try readLength(8, "BYTEARRAY8"))))
        // Python 2 `str`: bytes, as Python 3 reads them with encoding="bytes".
        case Opcode.shortBinString: try push(.bytes(try readBytes(try readLength(1, "SHORT_BINSTRING"))))
        case Opcode.binString:
            let length = Int32(truncatingIfNeeded: try readUInt(4, "BINSTRING"))
            try push(.bytes(try readBytes(Int(length))))
        case Opcode.emptyList: try push(PickleNode(.list([])))
        case Opcode.emptyDict: try push(PickleNode(.dict([])))
        case Opcode.emptyTuple: try push(PickleNode(.tuple([])))
        case Opcode.emptySet: try push(PickleNode(.set([])))
        case Opcode.mark:
            try charge(8)
            marks.append(stack.count)
        case Opcode.tuple: try push(PickleNode(.tuple(try popMark("TUPLE"))))
        case Opcode.tuple1, Opcode.tuple2, Opcode.tuple3:
            let count = Int(opcode - Opcode.tuple1) + 1
            var items: [PickleNode] = []
            for _ in 0..<count { items.insert(try pop("TUPLE\(count)"), at: 0) }
            try push(PickleNode(.tuple(items)))
        case Opcode.list: try push(PickleNode(.list(try popMark("LIST"))))
        case Opcode.frozenSet: try push(PickleNode(.frozenSet(try popMark("FROZENSET"))))
        case Opcode.dict: try push(PickleNode(.dict(try pairs(try popMark("DICT"), "DICT"))))
        case Opcode.append:
            let item = try pop("APPEND")
            try append([item], "APPEND")
        case Opcode.appends: try append(try popMark("APPENDS"), "APPENDS")
        case Opcode.addItems:
            let items = try popMark("ADDITEMS")
            guard let target = top, case .set(let existing) = target.kind else {
                throw PickleError(.malformed, "ADDITEMS needs a set below its mark")
            }
            try charge(8 * items.count)
            var all = existing
            target.kind = .leaf(.none)  // releases the array so that appending does not copy it
            all += items
            target.kind = .set(all)
        case Opcode.setItem:
            let value = try pop("SETITEM"), key = try pop("SETITEM")
            try setItems([(key, value)], "SETITEM")
        case Opcode.setItems: try setItems(try pairs(try popMark("SETITEMS"), "SETITEMS"), "SETITEMS")
        case Opcode.pop:
            if stack.count > (marks.last ?? 0) { stack.removeLast() } else { _ = try popMark("POP") }
        case Opcode.popMark: _ = try popMark("POP_MARK")
        case Opcode.dup:
            guard let node = top else { throw PickleError(.malformed, "DUP needs a value but the stack is empty") }
            try push(node)
        case Opcode.binPut: try memoize(Int(try readByte()))
        case Opcode.longBinPut: try memoize(Int(try readUInt(4, "LONG_BINPUT")))
        case Opcode.memoize: try memoize(memo.count)
        case Opcode.binGet: try push(try recall(Int(try readByte())))
        case Opcode.longBinGet: try push(try recall(Int(try readUInt(4, "LONG_BINGET"))))
        case Opcode.global:
            let module = try readLine("a GLOBAL module name"), name = try readLine("a GLOBAL name")
            try push(global(module, name))
        case Opcode.stackGlobal:
            let nameNode = try pop("STACK_GLOBAL"), moduleNode = try pop("STACK_GLOBAL")
            guard let module = moduleNode.string, let name = nameNode.string else {
                throw PickleError(.malformed, "STACK_GLOBAL needs two strings (module and name)")
            }
            try push(global(module, name))
        case Opcode.reduce:
            let arguments = try pop("REDUCE"), callable = try pop("REDUCE")
            try push(try reduce(callable, arguments.items ?? [arguments]))
        case Opcode.newObj:
            let arguments = try pop("NEWOBJ"), cls = try pop("NEWOBJ")
            try push(newObject(cls, arguments.items ?? [arguments]))
        case Opcode.newObjEx:
            let keywords = try pop("NEWOBJ_EX"), arguments = try pop("NEWOBJ_EX"), cls = try pop("NEWOBJ_EX")
            let node = newObject(cls, arguments.items ?? [arguments])
            if case .object(var object) = node.kind, case .dict(let pairs) = keywords.kind {
                object.keywordArguments = pairs
                node.kind = .object(object)
            }
            try push(node)
        case Opcode.inst:
            let module = try readLine("an INST module name"), name = try readLine("an INST name")
            let arguments = try popMark("INST")
            try push(PickleNode(.object(.init(className: qualifiedName(module, name), arguments: arguments))))
        case Opcode.obj:
            var items = try popMark("OBJ")
            guard !items.isEmpty else { throw PickleError(.malformed, "OBJ needs a class after its mark") }
            let cls = items.removeFirst()
            try push(newObject(cls, items))
        case Opcode.build:
            let state = try pop("BUILD")
            guard let target = top else { throw PickleError(.malformed, "BUILD needs an object below its state") }
            try build(target, state)
        case Opcode.readonlyBuffer:
            guard top != nil else { throw PickleError(.malformed, "READONLY_BUFFER needs a value") }
        default:
            if let name = Opcode.unsupportedName(opcode) {
                throw PickleError(.unsupportedFeature, "the pickle uses \(name), which cannot be read as plain data")
            }
            throw PickleError(.malformed, "unknown pickle opcode 0x\(String(opcode, radix: 16)): this is not a pickle this reader understands, or it is damaged")
        }
        return nil
    }

    mutating func readString(_ count: Int) throws(PickleError) -> String {
        let raw = try take(count, "a string")
        try charge(count)
        // Python allows lone surrogates (surrogatepass); they become U+FFFD here.
        return String(decoding: raw, as: UTF8.self)
    }

    mutating func readBytes(_ count: Int) throws(PickleError) -> [UInt8] {
        let raw = try take(count, "a bytes value")
        try charge(count)
        return Array(raw)
    }

    /// A `LONG1`/`LONG4` integer: little-endian two's complement of `count` bytes.
    mutating func readLong(_ count: Int) throws(PickleError) -> PythonValue {
        let raw = try take(count, "an integer")
        try charge(count)
        guard count > 0 else { return .int(0) }
        let big = PythonBigInt(littleEndianBytes: Array(raw))
        if big.littleEndianBytes.count <= 8 {
            var value: UInt64 = big.isNegative ? .max : 0
            for (index, byte) in big.littleEndianBytes.enumerated() {
                value = value & ~(0xFF << (8 * UInt64(index))) | UInt64(byte) << (8 * UInt64(index))
            }
            return .int(Int(Int64(bitPattern: value)))
        }
        return .bigInt(big)
    }

    /// Pairs the items of `DICT` or `SETITEMS` (key, value, key, value…).
    func pairs(_ items: [PickleNode], _ what: String) throws(PickleError) -> [(PickleNode, PickleNode)] {
        guard items.count % 2 == 0 else { throw PickleError(.malformed, "\(what) has an odd number of items (a key without a value)") }
        return stride(from: 0, to: items.count, by: 2).map { (items[$0], items[$0 + 1]) }
    }

    mutating func append(_ items: [PickleNode], _ what: String) throws(PickleError) {
        guard let target = top else { throw PickleError(.malformed, "\(what) needs a list below its items") }
        try charge(8 * items.count)
        switch target.kind {
        case .list(var existing):
            target.kind = .leaf(.none)  // releases the array so that appending does not copy it
            existing += items
            target.kind = .list(existing)
        case .object(var object):
            target.kind = .leaf(.none)
            object.listItems += items
            target.kind = .object(object)
        default: throw PickleError(.malformed, "\(what) appends to something that is not a list")
        }
    }

    mutating func setItems(_ pairs: [(PickleNode, PickleNode)], _ what: String) throws(PickleError) {
        guard let target = top else { throw PickleError(.malformed, "\(what) needs a dict below its items") }
        try charge(16 * pairs.count)
        switch target.kind {
        case .dict(var existing):
            target.kind = .leaf(.none)  // releases the array so that appending does not copy it
            existing += pairs
            target.kind = .dict(existing)
        case .object(var object):
            target.kind = .leaf(.none)
            object.dictItems += pairs
            target.kind = .object(object)
        default: throw PickleError(.malformed, "\(what) sets items on something that is not a dict")
        }
    }

    /// The Python 3 names of the Python 2 modules and names that protocols 0 to 2 write
    /// (`fix_imports`, as Python's own unpickler maps them back; a subset of `_compat_pickle`).
    /// Names only: nothing is imported.
    static let moduleNames: [String: String] = [
        "__builtin__": "builtins", "copy_reg": "copyreg", "Queue": "queue", "SocketServer": "socketserver",
        "ConfigParser": "configparser", "repr": "reprlib", "_winreg": "winreg", "thread": "_thread",
        "cPickle": "pickle", "commands": "subprocess", "UserDict": "collections", "UserList": "collections",
        "UserString": "collections", "StringIO": "io", "cStringIO": "io", "urlparse": "urllib.parse",
        "httplib": "http.client", "urllib2": "urllib.request", "exceptions": "builtins", "anydbm": "dbm",
        "whichdb": "dbm", "xmlrpclib": "xmlrpc.client", "BaseHTTPServer": "http.server",
        "SimpleHTTPServer": "http.server", "CGIHTTPServer": "http.server",
    ]
    static let names: [String: (String, String)] = [
        "__builtin__.xrange": ("builtins", "range"), "__builtin__.unicode": ("builtins", "str"),
        "__builtin__.basestring": ("builtins", "str"), "__builtin__.long": ("builtins", "int"),
        "__builtin__.reduce": ("functools", "reduce"), "__builtin__.intern": ("sys", "intern"),
        "__builtin__.unichr": ("builtins", "chr"), "__builtin__.raw_input": ("builtins", "input"),
        "itertools.izip": ("builtins", "zip"), "itertools.imap": ("builtins", "map"), "itertools.ifilter": ("builtins", "filter"),
        "UserDict.IterableUserDict": ("collections", "UserDict"), "os.getcwdu": ("os", "getcwd"),
    ]

    /// A global's Python 3 module and name.
    func pythonThreeName(_ module: String, _ name: String) -> (String, String) {
        guard protocolVersion < 3 else { return (module, name) }
        if let mapped = Self.names["\(module).\(name)"] { return mapped }
        return (Self.moduleNames[module] ?? module, name)
    }

    func qualifiedName(_ module: String, _ name: String) -> String {
        let (module, name) = pythonThreeName(module, name)
        return "\(module).\(name)"
    }

    func global(_ module: String, _ name: String) -> PickleNode {
        let (module, name) = pythonThreeName(module, name)
        return PickleNode(value: .global(module: module, name: name))
    }
}
