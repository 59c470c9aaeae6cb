struct BinaryKeyedDecodingContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    /// The decoder of the container's value, which holds the container's offset and cursor; a
    /// kept container's slot changes from value to value (KeyedContainerCache).
    private let slot: DecoderSlot
    private let state: DecodingState
    var codingPath: [any CodingKey] { slot.decoder?.path.keys ?? [] }

    /// A container whose entries are found lazily: nothing is read but the tag (``checkTag(of:)``)
    /// until a key is asked for.
    init(slot: DecoderSlot, state: DecodingState) {
        self.slot = slot
        self.state = state
    }

    /// A container for a value that has no decoder of its own (nested containers).
    init(state: DecodingState, offset: Int, path: CodingPath, depth: Int) throws {
        let decoder = state.makeDecoder(offset: offset, path: path, depth: depth)
        try Self.checkTag(of: decoder)
        self.init(slot: DecoderSlot(decoder: decoder), state: state)
    }

    /// Throws unless `decoder`'s value is a keyed container.
    static func checkTag(of decoder: BinaryValueDecoder) throws {
        let state = decoder.state
        let raw = try state.rawTag(at: decoder.offset)
        guard raw == Tag.keyed.rawValue else {
            throw state.typeMismatch(
                Tag.keyed.kindName, found: Tag(rawValue: raw)!, codingPath: decoder.path.keys, offset: decoder.offset)
        }
    }

    /// The decoder of the container's value; a container kept past its value throws.
    @inline(__always) private func owner() throws -> BinaryValueDecoder {
        guard let decoder = slot.decoder else { throw Self.finished() }
        return decoder
    }

    @inline(never) private static func finished() -> CodingError {
        CodingError(.invalidEncoding, "a keyed container was used after the value that owns it finished decoding")
    }

    var allKeys: [Key] {
        guard let decoder = slot.decoder, let entries = try? indexEntries(decoder) else { return [] }
        return entries.compactMap { entry in
            let bytes = UnsafeRawBufferPointer(start: state.base + entry.keyStart, count: entry.keyLength)
            return String(validating: bytes, as: UTF8.self).flatMap { Key(stringValue: $0) }
        }
    }

    /// Reads every entry's key and value offset, once.
    private func indexEntries(_ decoder: BinaryValueDecoder) throws -> [(keyStart: Int, keyLength: Int, value: Int)] {
        if let entries = decoder.entries { return entries }
        var entries: [(keyStart: Int, keyLength: Int, value: Int)] = []
        var position = decoder.offset + 1
        while true {
            let marker = try state.byte(at: position)
            position += 1
            if marker == endMarker { break }
            guard marker == entryMarker else { throw state.notAnEntry(marker, at: position - 1, codingPath: codingPath) }
            let keyLength = try state.readLength(at: &position, width: 1, "a key")
            let keyStart = position
            position += keyLength
            entries.append((keyStart, keyLength, position))
            position = try state.skipValue(at: position, depth: decoder.depth + 1)
        }
        state.endHint = (decoder.offset, position)
        decoder.entries = entries
        return entries
    }

    /// Where the value of `key` starts, or nil.
    @inline(__always) private func find(_ key: some CodingKey, _ decoder: BinaryValueDecoder) throws -> Int? {
        var name = key.stringValue
        return try name.withUTF8 { try find(utf8: $0, decoder) }
    }

    private func find(utf8 key: UnsafeBufferPointer<UInt8>, _ decoder: BinaryValueDecoder) throws -> Int? {
        let depth = decoder.depth
        if decoder.entries != nil { return try findIndexed(key, decoder) }
        var start = decoder.offset + 1
        if decoder.lastKey >= 0 {
            // The same key again (decodeIfPresent asks contains, decodeNil, then decode)?
            var position = decoder.lastKey
            let length = try state.readLength(at: &position, width: 1, "a key")
            if state.keyEquals(key, start: position, length: length) { return decoder.lastValue }
            if decoder.nextEntry < 0 { decoder.nextEntry = try state.valueEnd(decoder.lastValue, depth: depth + 1) }
            start = decoder.nextEntry
        }
        // Walk from the entry after the last hit to the end, then from the first entry back to
        // where the walk began. Far walks switch to an index, so that many lookups in another
        // order than the stored one stay cheap.
        var position = start
        var wrapped = false
        var walked = 0
        while true {
            if wrapped && position == start { return nil }
            let marker = try state.byte(at: position)
            if marker == endMarker {
                if start == decoder.offset + 1 { return nil }
                wrapped = true
                position = decoder.offset + 1
                continue
            }
            guard marker == entryMarker else { throw state.notAnEntry(marker, at: position, codingPath: codingPath) }
            let keyStart = position + 1
            var valueStart = keyStart
            let keyLength = try state.readLength(at: &valueStart, width: 1, "a key")
            valueStart += keyLength
            if state.keyEquals(key, start: valueStart - keyLength, length: keyLength) {
                found(keyStart: keyStart, value: valueStart, decoder: decoder)
                return valueStart
            }
            walked += 1
            if walked > 8 { return try findIndexed(key, decoder) }
            position = try state.valueEnd(valueStart, depth: depth + 1)
        }
    }

    /// Records a hit as the cursor; the end of a scalar value is found at once (it costs one
    /// tag read), and the end of the container noted when it follows.
    @inline(__always) private func found(keyStart: Int, value: Int, decoder: BinaryValueDecoder) {
        decoder.lastKey = keyStart
        decoder.lastValue = value
        decoder.nextEntry = -1
        guard let raw = try? state.byte(at: value), raw < Tag.keyed.rawValue,
            let end = try? state.skipValue(at: value, depth: decoder.depth + 1)
        else { return }
        decoder.nextEntry = end
        if (try? state.byte(at: end)) == endMarker { state.endHint = (decoder.offset, end + 1) }
    }

    private func findIndexed(_ key: UnsafeBufferPointer<UInt8>, _ decoder: BinaryValueDecoder) throws -> Int? {
        let entries = try indexEntries(decoder)
        let count = entries.count
        // The last hit (the same key again), then the entry after it (keys in stored order).
        let hint = decoder.entryHint
        for index in max(hint - 1, 0)..<min(hint + 1, count) {
            if state.keyEquals(key, start: entries[index].keyStart, length: entries[index].keyLength) {
                decoder.entryHint = index + 1
                return entries[index].value
            }
        }
        if count <= 16 {
            for index in 0..<count where state.keyEquals(key, start: entries[index].keyStart, length: entries[index].keyLength) {
                decoder.entryHint = index + 1
                return entries[index].value
            }
            return nil
        }
        let table = decoder.entryTable ?? makeEntryTable(entries, decoder)
        let mask = table.count - 1
        var slot = keyHash(UnsafeRawBufferPointer(key)) & mask
        while table[slot] != 0 {
            let index = table[slot] - 1
            if state.keyEquals(key, start: entries[index].keyStart, length: entries[index].keyLength) {
                decoder.entryHint = index + 1
                return entries[index].value
            }
            slot = (slot + 1) & mask
        }
        return nil
    }

    /// An open-addressing table of the entries by key, at most half full.
    private func makeEntryTable(_ entries: [(keyStart: Int, keyLength: Int, value: Int)], _ decoder: BinaryValueDecoder) -> [Int] {
        var size = 1
        while size < entries.count * 2 { size <<= 1 }
        var table = [Int](repeating: 0, count: size)
        let mask = size - 1
        for (index, entry) in entries.enumerated() {
            var slot = keyHash(UnsafeRawBufferPointer(start: state.base + entry.keyStart, count: entry.keyLength)) & mask
            while table[slot] != 0 { slot = (slot + 1) & mask }
            table[slot] = index + 1
        }
        decoder.entryTable = table
        return table
    }

    private func keyHash(_ bytes: UnsafeRawBufferPointer) -> Int {
        var hasher = Hasher()
        hasher.combine(bytes: bytes)
        return hasher.finalize()
    }

    /// Where the value of `key` starts, and the path to report with it.
    @inline(__always) private func value(_ key: Key) throws -> Int {
        let decoder = try owner()
        guard let offset = try find(key, decoder) else { throw keyNotFound(key, decoder) }
        return offset
    }

    @inline(never) private func keyNotFound(_ key: Key, _ decoder: BinaryValueDecoder) -> CodingError {
        CodingError(.keyNotFound, "no value for key '\(key.stringValue)'", codingPath: decoder.path.appending(key).keys)
    }

    /// The path of the value at `key`, for errors.
    private func keys(_ key: Key) -> [any CodingKey] { (slot.decoder?.path ?? .root).appending(key).keys }

    func contains(_ key: Key) -> Bool {
        guard let decoder = slot.decoder else { return false }
        return ((try? find(key, decoder)) ?? nil) != nil
    }

    func decodeNil(forKey key: Key) throws -> Bool { try state.isNil(at: value(key)) }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try state.readBool(at: value(key), keys(key)) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try state.readString(at: value(key), keys(key)) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try state.readDouble(at: value(key), keys(key)) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try state.readFloat(at: value(key), keys(key)) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { Int(try state.readNumber(Int64.self, tag: .int64, at: value(key), keys(key))) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try state.readNumber(Int8.self, tag: .int8, at: value(key), keys(key)) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try state.readNumber(Int16.self, tag: .int16, at: value(key), keys(key)) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try state.readNumber(Int32.self, tag: .int32, at: value(key), keys(key)) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try state.readNumber(Int64.self, tag: .int64, at: value(key), keys(key)) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { UInt(try state.readNumber(UInt64.self, tag: .uint64, at: value(key), keys(key))) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try state.readNumber(UInt8.self, tag: .uint8, at: value(key), keys(key)) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try state.readNumber(UInt16.self, tag: .uint16, at: value(key), keys(key)) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try state.readNumber(UInt32.self, tag: .uint32, at: value(key), keys(key)) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try state.readNumber(UInt64.self, tag: .uint64, at: value(key), keys(key)) }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let offset = try value(key)
        let decoder = try owner()
        return try state.decodeValue(T.self, at: offset, path: decoder.childPath(key), depth: decoder.depth + 1)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        let offset = try value(key)
        let decoder = try owner()
        return KeyedDecodingContainer(
            try BinaryKeyedDecodingContainer<NestedKey>(
                state: state, offset: offset, path: decoder.childPath(key), depth: decoder.depth + 1))
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        let offset = try value(key)
        let decoder = try owner()
        return try BinaryUnkeyedDecodingContainer(state: state, offset: offset, path: decoder.childPath(key), depth: decoder.depth + 1)
    }

    func superDecoder() throws -> any Decoder { try superDecoder(for: NameKey("super")) }

    func superDecoder(forKey key: Key) throws -> any Decoder { try superDecoder(for: key) }

    private func superDecoder(for key: some CodingKey) throws -> any Decoder {
        let decoder = try owner()
        guard let offset = try find(key, decoder) else {
            throw CodingError(.keyNotFound, "no value for key '\(key.stringValue)'", codingPath: decoder.path.appending(key).keys)
        }
        return state.makeDecoder(offset: offset, path: decoder.childPath(key), depth: decoder.depth + 1)
    }
}
