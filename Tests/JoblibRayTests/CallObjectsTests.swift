import JoblibCoding
import JoblibProcesses
import Testing
@testable import JoblibBridge

/// The driver's side of a call's objects (no cluster needed): which arrays become objects, when
/// one is sent, which a submission refers to, and which are released mid-call.
struct CallObjectsTests {
    final class Counter: @unchecked Sendable {
        var next: UInt64 = 100
        func id() -> UInt64 {
            next += 1
            return next
        }
    }

    func offer(_ objects: CallObjects, _ array: [Double]) throws -> UInt64? {
        try array.withUnsafeBytes { try objects.storeSection($0, elementType: .float64, count: array.count, owner: array) }
    }

    @Test func theSameArrayIsOneObjectSentOnce() throws {
        let counter = Counter()
        let objects = CallObjects(threshold: 1_000, newObjectID: counter.id)
        let large = [Double](repeating: 1, count: 1_000)
        #expect(try offer(objects, [1, 2, 3]) == nil)  // under the threshold: inline
        let first = try offer(objects, large)
        #expect(try offer(objects, large) == first)
        let sent = objects.takeUnsent()
        #expect(sent.count == 1 && sent[0].bytes.count == 8_000 && sent[0].id == 101)
        #expect(objects.takeOffered() == [PlacedSection(number: 0, object: 101, byteCount: 8_000)])
        // The next submission that carries it refers to it without sending it again.
        #expect(try offer(objects, large) == first)
        #expect(objects.takeUnsent().isEmpty)
        #expect(objects.takeOffered().map(\.object) == [101])
        #expect(objects.live == [101])
    }

    /// An array changed after it became an object is a new object, never the old one's bytes:
    /// the object keeps the array it was made from, so the change copies it (copy on write).
    @Test func anArrayChangedAfterItWasOfferedIsANewObject() throws {
        let objects = CallObjects(threshold: 1_000, newObjectID: Counter().id)
        var array = [Double](repeating: 1, count: 1_000)
        let first = try offer(objects, array)
        array.withUnsafeMutableBufferPointer { $0[500] = 2 }
        let second = try offer(objects, array)
        #expect(first != second)
        let sent = objects.takeUnsent()
        #expect(sent.count == 2)
        #expect(sent.last?.bytes.withUnsafeBytes { $0.load(fromByteOffset: 500 * 8, as: Double.self) } == 2)
    }

    /// Lazy input makes arrays one by one and drops each after its task was encoded: a new array
    /// of the same size then often lies where the freed one was. It must never be taken for the
    /// old one (its bytes, not the old ones, are sent): 40 arrays of different contents, 40 objects.
    @Test func anArrayAtAFreedArraysAddressIsNotTakenForIt() throws {
        let objects = CallObjects(threshold: 1_000, newObjectID: Counter().id)
        for value in 0..<40 {
            _ = try offer(objects, [Double](repeating: Double(value), count: 1_000))
            _ = objects.takeOffered()
        }
        let sent = objects.takeUnsent()
        #expect(sent.count == 40)
        for (value, object) in sent.enumerated() {
            let contents = object.bytes.withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
            #expect(contents == [Double](repeating: Double(value), count: 1_000), "object \(value) holds another array's bytes")
        }
    }

    /// Over the live limit, the objects no submission in flight uses go, oldest use first, and
    /// never the newest; one released and offered again is sent again.
    @Test func objectsOverTheLimitAreReleasedWhenNotInFlight() throws {
        let objects = CallObjects(threshold: 1_000, liveBytesLimit: 20_000, newObjectID: Counter().id)
        let arrays = (0..<3).map { [Double](repeating: Double($0), count: 1_000) }  // 8 KB each
        var used: [[PlacedSection]] = []
        for array in arrays {
            _ = try offer(objects, array)
            used.append(objects.takeOffered())
        }
        _ = objects.takeUnsent()
        #expect(objects.overLimit().isEmpty)  // 24 KB, but all three in flight
        objects.finished(used[1])
        #expect(objects.overLimit() == used[1].map(\.object))  // the oldest not in flight
        objects.finished(used[0])
        objects.finished(used[2])
        #expect(objects.overLimit().isEmpty)  // 16 KB: under the limit
        _ = try offer(objects, arrays[1])
        #expect(objects.takeUnsent().count == 1)  // released, so sent again
    }
}
