#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

// The C heap, for buffers that grow by `realloc` (large blocks move with mremap, without a copy)
// and must report a refusal instead of trapping as Swift's own allocations do.

/// `realloc`: `block` (or nil) resized to `byteCount` bytes, 16-byte aligned; nil when the
/// system refuses, and `block` then stays valid.
package func reallocateMemory(_ block: UnsafeMutableRawPointer?, byteCount: Int) -> UnsafeMutableRawPointer? {
    realloc(block, byteCount)
}

/// `free` for a block from ``reallocateMemory(_:byteCount:)`` (nil is allowed).
package func freeMemory(_ block: UnsafeMutableRawPointer?) {
    free(block)
}

/// The size of a memory page.
package let systemPageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
