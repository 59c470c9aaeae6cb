#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import JoblibPickle
import JoblibSystem
import JoblibTypes
import SystemPackage

// Loading files written by Python's `joblib.dump`: `load` dispatches here when the (decompressed)
// bytes start with a pickle's PROTO opcode. The pickle is read as data by JoblibPickle.

/// Whether `bytes` start like a pickle of protocol 2 or later (`PROTO` and a version byte).
func isPythonPickle(_ bytes: some Collection<UInt8>) -> Bool {
    var iterator = bytes.makeIterator()
    guard iterator.next() == 0x80, let version = iterator.next() else { return false }
    return (2...5).contains(version)
}

/// What a Python joblib file holds, for `joblib inspect`.
package struct PythonJoblibFile {
    /// The value, inert.
    package var value: PythonValue
    /// The pickle protocol.
    package var protocolVersion: Int
    /// The compression, detected from the bytes as joblib does.
    package var compression: Compression.Algorithm
    /// The file's size on disk.
    package var fileSize: Int
}

/// Reads a Python joblib file for `joblib inspect`: mapped when uncompressed (O(1) in its arrays),
/// else decompressed into memory.
package func readPythonJoblib(at path: FilePath) throws -> PythonJoblibFile {
    do {
        return try withRegularFile(path, .readOnly) { fd in
            let size = try fd.fileSize()
            var prefix = [UInt8](repeating: 0, count: min(size, 8))
            let got = try prefix.withUnsafeMutableBytes { try fd.readFully(into: $0, at: 0) }
            let head = prefix.prefix(got)
            let bytes: UnsafeRawBufferPointer, owner: AnyObject, algorithm: Compression.Algorithm
            if !isPythonPickle(head), let compressed = Compression.detect(head) {
                let buffer = try decompress(fd: fd, size: size, compressed, maximumSize: defaultMaximumLoadSize.bytes, expecting: .anything)
                (bytes, owner, algorithm) = (buffer.bytes, buffer, compressed)
            } else {
                let region = try MemoryMapping(fd: fd, offset: 0, count: size, access: .readOnly)
                (bytes, owner, algorithm) = (region.bytes, region, .none)
            }
            guard isPythonPickle(bytes.prefix(2)) else {
                throw PersistenceError(.notOurFile, "the file is not a Python joblib file (no pickle of protocol 2 to 5)")
            }
            let result = try readPickle(bytes, owner: owner)
            return PythonJoblibFile(value: result.value, protocolVersion: result.protocolVersion, compression: algorithm, fileSize: size)
        }
    } catch {
        throw PersistenceError.wrapping(error, path: path.string, decoding: true)
    }
}

/// Whether a file starts like a Python joblib file, compressed or not: a probe that decompresses
/// only the stream's first bytes. A file it cannot open or decompress is not one (whoever opens
/// it next reports why).
package func isPythonJoblibFile(at path: FilePath) -> Bool {
    (try? withRegularFile(path, .readOnly) { fd -> Bool in
        let size = try fd.fileSize()
        var prefix = [UInt8](repeating: 0, count: 8)
        let got = try prefix.withUnsafeMutableBytes { try fd.readFully(into: $0, at: 0) }
        let head = prefix.prefix(got)
        if isPythonPickle(head) { return true }
        guard !head.starts(with: containerMagic), let algorithm = Compression.detect(head) else { return false }
        let output = ByteBuffer()
        _ = try? decompress(fd: fd, size: size, algorithm, maximumSize: .max, expecting: .anything, stopAfter: 2, into: output)
        return isPythonPickle(output.bytes.prefix(2))
    }) ?? false
}

/// Loads an uncompressed Python joblib file: read into memory, or mapped (arrays then stay in the
/// mapping: O(1) in the array sizes).
func loadPythonJoblib<T: Decodable>(_ type: T.Type, fd: FileDescriptor, size: Int, mapping: MappingMode?, maximumSize: Int) throws -> T {
    if let mapping {
        let region = try MemoryMapping(fd: fd, offset: 0, count: size, access: mapping.access)
        return try decodePythonJoblib(type, from: region.bytes, owner: region)
    }
    guard size <= maximumSize else {
        throw PersistenceError(
            .tooLarge, "the file holds \(size) bytes (\(ByteCount(bytes: size))), more than this load's maximumSize of \(ByteCount(bytes: maximumSize)); map it, or load it with a larger maximumSize")
    }
    let buffer = ByteBuffer()
    try buffer.reserve(size)
    let count = try fd.readFully(into: UnsafeMutableRawBufferPointer(rebasing: try buffer.freeSpace(minimum: size)[0..<size]), at: 0)
    buffer.commit(count)
    return try decodePythonJoblib(type, from: buffer.bytes, owner: buffer)
}

/// Reads a pickle held in `bytes` (kept alive by `owner`, or copied from when nil) and decodes `type`.
func decodePythonJoblib<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer, owner: AnyObject?) throws -> T {
    let result = try readPickle(bytes, owner: owner)
    do {
        return try PythonDecoding.decode(type, from: result.value)
    } catch let error as PickleError {
        throw persistenceError(error)
    }
}

private func readPickle(_ bytes: UnsafeRawBufferPointer, owner: AnyObject?) throws -> PickleReader.Result {
    do {
        return try PickleReader.read(bytes, owner: owner)
    } catch {
        throw persistenceError(error)
    }
}

/// The `PersistenceError` that reports a `PickleError`, which it keeps as the cause.
func persistenceError(_ error: PickleError) -> PersistenceError {
    let code: PersistenceError.Code
    switch error.code {
    case .truncated: code = .truncated
    case .typeMismatch: code = .typeMismatch
    case .unsupportedFeature: code = .unsupportedFeature
    case .notPlainData: code = .encodingFailed
    default: code = .corruptHeader
    }
    let place = error.offset.map { " at byte \($0) of the pickle" } ?? ""
    return PersistenceError(code, "Python pickle (a file of Python's joblib.dump): \(error.message)\(place)", underlying: error)
}
