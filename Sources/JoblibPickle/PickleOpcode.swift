/// Pickle opcodes (Python's `pickletools` documents each), protocols 0 to 5.
enum Opcode {
    static let mark: UInt8 = 0x28            // (
    static let stop: UInt8 = 0x2E            // .
    static let pop: UInt8 = 0x30             // 0
    static let popMark: UInt8 = 0x31         // 1
    static let dup: UInt8 = 0x32             // 2
    static let binInt: UInt8 = 0x4A          // J
    static let binInt1: UInt8 = 0x4B         // K
    static let binInt2: UInt8 = 0x4D         // M
    static let none: UInt8 = 0x4E            // N
    static let reduce: UInt8 = 0x52          // R
    static let binString: UInt8 = 0x54       // T
    static let shortBinString: UInt8 = 0x55  // U
    static let binUnicode: UInt8 = 0x58      // X
    static let append: UInt8 = 0x61          // a
    static let build: UInt8 = 0x62           // b
    static let global: UInt8 = 0x63          // c
    static let dict: UInt8 = 0x64            // d
    static let emptyDict: UInt8 = 0x7D       // }
    static let appends: UInt8 = 0x65         // e
    static let binGet: UInt8 = 0x68          // h
    static let inst: UInt8 = 0x69            // i
    static let longBinGet: UInt8 = 0x6A      // j
    static let list: UInt8 = 0x6C            // l
    static let emptyList: UInt8 = 0x5D       // ]
    static let obj: UInt8 = 0x6F             // o
    static let binPut: UInt8 = 0x71          // q
    static let longBinPut: UInt8 = 0x72      // r
    static let setItem: UInt8 = 0x73         // s
    static let tuple: UInt8 = 0x74           // t
    static let emptyTuple: UInt8 = 0x29      // )
    static let setItems: UInt8 = 0x75        // u
    static let binFloat: UInt8 = 0x47        // G
    static let binBytes: UInt8 = 0x42        // B
    static let shortBinBytes: UInt8 = 0x43   // C
    // Protocol 2.
    static let proto: UInt8 = 0x80
    static let newObj: UInt8 = 0x81
    static let tuple1: UInt8 = 0x85
    static let tuple2: UInt8 = 0x86
    static let tuple3: UInt8 = 0x87
    static let newTrue: UInt8 = 0x88
    static let newFalse: UInt8 = 0x89
    static let long1: UInt8 = 0x8A
    static let long4: UInt8 = 0x8B
    // Protocol 4.
    static let shortBinUnicode: UInt8 = 0x8C
    static let binUnicode8: UInt8 = 0x8D
    static let binBytes8: UInt8 = 0x8E
    static let emptySet: UInt8 = 0x8F
    static let addItems: UInt8 = 0x90
    static let frozenSet: UInt8 = 0x91
    static let newObjEx: UInt8 = 0x92
    static let stackGlobal: UInt8 = 0x93
    static let memoize: UInt8 = 0x94
    static let frame: UInt8 = 0x95
    // Protocol 5.
    static let byteArray8: UInt8 = 0x96
    static let nextBuffer: UInt8 = 0x97
    static let readonlyBuffer: UInt8 = 0x98

    /// Opcodes that only make sense with what this reader refuses to do (persistent ids, the
    /// extension registry, out-of-band buffers) or that belong to protocol 0's text format.
    static func unsupportedName(_ opcode: UInt8) -> String? {
        switch opcode {
        case 0x50, 0x51: "persistent ids (PERSID, BINPERSID)"
        case 0x82, 0x83, 0x84: "the extension registry (EXT1, EXT2, EXT4)"
        case nextBuffer: "out-of-band buffers (NEXT_BUFFER)"
        case 0x46, 0x49, 0x4C, 0x53, 0x56, 0x67, 0x70: "protocol 0 text opcodes (FLOAT, INT, LONG, STRING, UNICODE, GET, PUT)"
        default: nil
        }
    }
}
