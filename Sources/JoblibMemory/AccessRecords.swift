import JoblibCoding
import Synchronization

/// What this process knows of its entries' last access: for recently read or written keys, a
/// time that the output's access time is known not to be older than (CacheLayout.md, "Times").
///
/// A hit touches an output only when its access time is more than
/// `CacheStore.accessTimeResolution` old, which takes the output's status (`fstat`, with its
/// path text, about a tenth of a hit). An entry this process wrote, touched or saw accessed within
/// that time needs neither: the hit reads it without status. Access times only move forward (a
/// read, a touch, a new entry made under the same key), so the record stays a true lower bound,
/// unless someone sets a time back by hand; the next hit after the record's
/// `accessTimeResolution` has passed reads the status again and corrects it.
///
/// Bounded and allocation-free after the first use: 4,096 records in sets of 4 chosen by the
/// key's low bits (keys are hashes, so evenly spread), one 64-byte cache line per set (a lookup
/// costs one memory access); a full set forgets its oldest record, which only costs that entry's
/// next hit its `fstat`. A record holds the key's low 64 bits: two keys alike in those (one in
/// 2^64) would share a record, which can only leave an access time up to the resolution older.
final class AccessRecords: Sendable {
    private struct Record {
        var key: UInt64
        /// Wall-clock seconds; the output's access time is at least this. -infinity: empty.
        var accessedAfter: Double
    }

    private static let ways = 4
    private static let sets = 1024
    /// `sets * ways` records, 64-byte aligned; nil until the first record.
    private let records = Mutex<UnsafeMutablePointer<Record>?>(nil)

    deinit {
        records.withLock { $0?.deallocate() }
    }

    /// Whether `key`'s output is known to have been accessed within `interval` seconds of `now`.
    func isRecent(_ key: HashDigest, within interval: Double, now: Double) -> Bool {
        records.withLock { records in
            guard let records else { return false }
            let set = records + Self.firstSlot(key)
            for way in 0..<Self.ways where set[way].key == key.low {
                return now - set[way].accessedAfter <= interval
            }
            return false
        }
    }

    /// Records that `key`'s output was accessed at `accessedAfter` or later.
    func record(_ key: HashDigest, accessedAfter: Double) {
        records.withLock { records in
            let all: UnsafeMutablePointer<Record>
            if let records {
                all = records
            } else {
                let count = Self.sets * Self.ways
                all = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Record>.stride, alignment: 64)
                    .bindMemory(to: Record.self, capacity: count)
                all.initialize(repeating: Record(key: 0, accessedAfter: -.infinity), count: count)
                records = all
            }
            let set = all + Self.firstSlot(key)
            var chosen = 0
            for way in 0..<Self.ways {
                if set[way].key == key.low && set[way].accessedAfter > -.infinity {
                    chosen = way
                    break
                }
                if set[way].accessedAfter < set[chosen].accessedAfter { chosen = way }
            }
            set[chosen] = Record(key: key.low, accessedAfter: accessedAfter)
        }
    }

    /// Forgets every record (tests: what a new process knows).
    func removeAll() {
        records.withLock { records in
            records?.deallocate()
            records = nil
        }
    }

    private static func firstSlot(_ key: HashDigest) -> Int {
        Int(truncatingIfNeeded: key.low >> 32 & UInt64(sets - 1)) * ways
    }
}
