import CXXHash

/// Incremental XXH3-128 (seed 0); not thread-safe, one per hashing run.
package final class XXH3Stream {
    private let stream: OpaquePointer

    package init() {
        guard let stream = joblib_xxh3_stream_create(0) else {
            fatalError("out of memory allocating a 576-byte XXH3 state")
        }
        self.stream = stream
    }

    package func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        joblib_xxh3_stream_update(stream, bytes.baseAddress, bytes.count)
    }

    package func digest() -> HashDigest {
        let value = joblib_xxh3_stream_digest(stream)
        return HashDigest(high: value.high, low: value.low)
    }

    deinit { joblib_xxh3_stream_free(stream) }
}

/// XXH3-128 of `bytes` in one call (seed 0): the checksum of persistence sections.
package func xxh3Digest(_ bytes: UnsafeRawBufferPointer) -> HashDigest {
    let value = joblib_xxh3_128(bytes.baseAddress, bytes.count, 0)
    return HashDigest(high: value.high, low: value.low)
}

/// XXH3-64 of `bytes` (seed 0).
package func xxh3Digest64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    joblib_xxh3_64(bytes.baseAddress, bytes.count, 0)
}
