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
/// key's low bits (keys are hashes, so evenly spread); a full set forgets its oldest record,
/// which only costs that entry's next hit its `fstat`.
final class AccessRecords: Sendable {
    private struct Record {
        var high: UInt64
        var low: UInt64
        /// Wall-clock seconds; the output's access time is at least this.
        var accessedAfter: Double
    }

    private static let ways = 4
    private static let sets = 1024
    private let records = Mutex<[Record]>([])

    /// Whether `key`'s output is known to have been accessed within `interval` seconds of `now`.
    func isRecent(_ key: HashDigest, within interval: Double, now: Double) -> Bool {
        records.withLock { records in
            guard !records.isEmpty else { return false }
            let first = Self.firstSlot(key)
            for slot in first..<(first + Self.ways) where records[slot].high == key.high && records[slot].low == key.low {
                return now - records[slot].accessedAfter <= interval
            }
            return false
        }
    }

    /// Records that `key`'s output was accessed at `accessedAfter` or later.
    func record(_ key: HashDigest, accessedAfter: Double) {
        records.withLock { records in
            if records.isEmpty {
                records = Array(repeating: Record(high: 0, low: 0, accessedAfter: -.infinity), count: Self.sets * Self.ways)
            }
            let first = Self.firstSlot(key)
            var chosen = first
            for slot in first..<(first + Self.ways) {
                if records[slot].high == key.high && records[slot].low == key.low {
                    chosen = slot
                    break
                }
                if records[slot].accessedAfter < records[chosen].accessedAfter { chosen = slot }
            }
            records[chosen] = Record(high: key.high, low: key.low, accessedAfter: accessedAfter)
        }
    }

    /// Forgets every record (tests: what a new process knows).
    func removeAll() {
        records.withLock { $0 = [] }
    }

    private static func firstSlot(_ key: HashDigest) -> Int {
        Int(truncatingIfNeeded: key.low & UInt64(sets - 1)) * ways
    }
}
