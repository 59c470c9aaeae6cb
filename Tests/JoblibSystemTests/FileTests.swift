import Foundation
import SystemPackage
import Testing
@testable import JoblibSystem

@Suite struct FileTests {
    @Test func atomicWriteReplacesWholeFileAndLeavesNoTemporary() throws {
        try withTemporaryDirectory { directory in
            let target = directory.appending("out.bin")
            try writeFileAtomically(to: target) { fd in try ([1, 2, 3] as [UInt8]).withUnsafeBytes { try fd.writeAll($0) } }
            try writeFileAtomically(to: target) { fd in
                try ([9, 8] as [UInt8]).withUnsafeBytes { try fd.writeAll($0) }
            }
            let bytes = try withFileDescriptor(target, .readOnly) { try $0.readAllBytes() }
            #expect(bytes == [9, 8])
            #expect(try directoryEntries(directory) == ["out.bin"])
        }
    }

    @Test func failedAtomicWriteKeepsOldContentAndRemovesTemporary() throws {
        struct Boom: Error {}
        try withTemporaryDirectory { directory in
            let target = directory.appending("keep.bin")
            try writeFileAtomically(to: target) { fd in try ([7] as [UInt8]).withUnsafeBytes { try fd.writeAll($0) } }
            #expect(throws: Boom.self) {
                try writeFileAtomically(to: target) { fd in
                    try ([1, 2, 3, 4] as [UInt8]).withUnsafeBytes { try fd.writeAll($0) }
                    throw Boom()
                }
            }
            #expect(try withFileDescriptor(target, .readOnly) { try $0.readAllBytes() } == [7])
            #expect(try directoryEntries(directory) == ["keep.bin"])
        }
    }

    @Test func atomicWriteIntoMissingDirectoryIsASystemError() {
        #expect(throws: SystemError.self) {
            try writeFileAtomically(to: FilePath("/nonexistent-joblib-dir/x")) { _ in }
        }
    }

    @Test func temporaryDirectoryIsRemovedWithItsContents() throws {
        var path: FilePath?
        do {
            let directory = try TemporaryDirectory(prefix: "joblib-test")
            path = directory.path
            let nested = directory.path.appending("a/b")
            try FileManager.default.createDirectory(atPath: nested.string, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: nested.appending("f").string, contents: Data([1]))
            #expect(FileManager.default.fileExists(atPath: nested.string))
        }
        #expect(!FileManager.default.fileExists(atPath: path!.string))
    }

    @Test func mappingModes() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appending("m.bin")
            try writeFileAtomically(to: path, durable: false) { fd in
                try [UInt8](repeating: 5, count: 10_000).withUnsafeBytes { try fd.writeAll($0) }
            }
            try withFileDescriptor(path, .readWrite) { fd in
                // An unaligned offset works; the page arithmetic is hidden.
                let readOnly = try MemoryMapping(fd: fd, offset: 4097, count: 10, access: .readOnly)
                #expect(Array(readOnly.bytes) == [UInt8](repeating: 5, count: 10))

                let private_ = try MemoryMapping(fd: fd, offset: 0, count: 100, access: .copyOnWrite)
                private_.mutableBytes[0] = 1
                let shared = try MemoryMapping(fd: fd, offset: 0, count: 100, access: .readWrite)
                shared.mutableBytes[1] = 2
                try shared.flush()
            }
            let bytes = try withFileDescriptor(path, .readOnly) { try $0.readAllBytes() }
            #expect(bytes[0] == 5)  // copy-on-write did not reach the file
            #expect(bytes[1] == 2)  // read-write did
        }
    }

    @Test func sharedMemoryFileHasNoNameAndCanBeSealed() throws {
        let fd = try SharedMemoryFile.create(name: "joblib-test", size: 4096, sealable: true)
        defer { try? fd.close() }
        #expect(try fd.fileSize() == 4096)
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd.rawValue)")
        #expect(link.hasPrefix("/memfd:joblib-test"))
        try ([1, 2, 3] as [UInt8]).withUnsafeBytes { try fd.writeAll($0, at: 0) }
        try SharedMemoryFile.sealReadOnly(fd)
        #expect(throws: SystemError.self) { try ([9] as [UInt8]).withUnsafeBytes { try fd.writeAll($0, at: 0) } }
        let mapping = try MemoryMapping(fd: fd, offset: 0, count: 3, access: .readOnly)
        #expect(Array(mapping.bytes) == [1, 2, 3])
    }

    /// An open directory knows whether its path still names it: not after it was renamed away
    /// and another made in its place, nor after it was removed; files are read relative to it.
    @Test func directoryHandleNoticesAReplacementAtItsPath() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appending("function")
            #expect(try DirectoryHandle(path) == nil)
            try makeDirectories(path.appending("key"))
            try writeFileAtomically(to: path.appending("key/output")) { fd in try ([7, 8, 9] as [UInt8]).withUnsafeBytes { try fd.writeAll($0) } }
            let handle = try #require(try DirectoryHandle(path))
            #expect(handle.leads(from: path))
            #expect(handle.isConfirmed(within: 60_000_000_000))
            var seen: [UInt8] = []
            #expect(try readSmallFile(in: handle.fd, path: "key/output", touchOlderThan: nil, limit: 16) { bytes, _ in seen = Array(bytes) })
            #expect(seen == [7, 8, 9])
            #expect(try readSmallFile(in: handle.fd, path: "other/output", touchOlderThan: nil, limit: 16) { _, _ in Issue.record("read a missing file") } == false)

            try FileManager.default.moveItem(atPath: path.string, toPath: directory.appending("renamed").string)
            try makeDirectories(path)
            #expect(!handle.leads(from: path))
            // The descriptor still reads the renamed directory, which is why callers ask.
            #expect(try readSmallFile(in: handle.fd, path: "key/output", touchOlderThan: nil, limit: 16) { _, _ in })

            try FileManager.default.removeItem(atPath: path.string)
            #expect(!handle.leads(from: path))
            #expect(handle.leads(from: directory.appending("renamed")))
        }
    }
}
