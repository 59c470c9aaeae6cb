import Foundation
import SystemPackage
import Testing
@testable import JoblibSystem

@Suite(.timeLimit(.minutes(1))) struct DescriptorPassingTests {
    /// A memory file passed over a socket pair is the same file on the other side; nothing waits
    /// afterwards, and a closed peer is nil, not an error.
    @Test func aPassedDescriptorIsTheSameFile() throws {
        let (left, right) = try makeSocketPair()
        defer { try? right.close() }
        #expect(try right.receiveDescriptors() == nil, "nothing was sent yet")
        let first = try SharedMemoryFile.create(name: "joblib-test-pass", size: 0)
        let second = try SharedMemoryFile.create(name: "joblib-test-pass", size: 0)
        try [UInt8]([1, 2, 3]).withUnsafeBytes { try first.writeAll($0, at: 0) }
        try [UInt8]([9]).withUnsafeBytes { try second.writeAll($0, at: 0) }
        try left.sendDescriptors([first, second])
        try first.close()
        try second.close()
        let received = try #require(try right.receiveDescriptors())
        defer { received.forEach { try? $0.close() } }
        #expect(received.count == 2)
        let block = try SharedMemoryBlock(adopting: received[0])
        #expect(Array(block.mapping.bytes) == [1, 2, 3])
        #expect(try received[1].fileSize() == 1)
        #expect(try right.receiveDescriptors() == nil)
        try left.close()
        #expect(try right.receiveDescriptors() == nil, "end of file")
    }

    /// Descriptors sent and never received are closed with the socket: the write end of a pipe
    /// in flight keeps the pipe open until then, and not after.
    @Test func unreceivedDescriptorsCloseWithTheSocket() throws {
        let (left, right) = try makeSocketPair()
        let pipe = try makePipe()
        defer { try? pipe.read.close() }
        try pipe.read.setNonBlocking()
        #expect(throws: SystemError.self) { try left.sendDescriptors([]) }
        try left.sendDescriptors([pipe.write])
        try pipe.write.close()
        var byte: UInt8 = 0
        let whileInFlight = try withUnsafeMutableBytes(of: &byte) { try pipe.read.readAvailable(into: $0) }
        #expect(whileInFlight == nil, "the write end in the socket should keep the pipe open")
        try left.close()
        try right.close()
        let afterClose = try withUnsafeMutableBytes(of: &byte) { try pipe.read.readAvailable(into: $0) }
        #expect(afterClose == 0, "the write end in flight was not closed with the socket")
    }
}
