import JoblibSystem

/// How `load` maps the arrays of an uncompressed file into memory instead of reading them.
///
/// Mapping is O(1) in time and memory whatever the file's size: pages are read when first
/// touched. Only ``NDArray`` values keep their elements in the mapping; other arrays (`[Double]`)
/// are copied out. Mapped loads check the file's structure and the checksum of its header and
/// value, but not the checksums of the arrays' bytes (that would read the whole file).
///
/// The file must not be truncated by another process while mapped (the kernel would stop the
/// process with `SIGBUS` on access, as with any memory-mapped file).
public enum MappingMode: Sendable, Hashable {
    /// Arrays are read-only views of the file; mutating one copies it into memory first.
    case readOnly
    /// Arrays may be changed in place; the changes stay in this process and never reach the file.
    case copyOnWrite
    /// Arrays may be changed in place and the changes are written to the file. The file is
    /// marked so that later loads do not report the changed arrays as corrupt.
    case readWrite

    var access: MappingAccess {
        switch self {
        case .readOnly: .readOnly
        case .copyOnWrite: .copyOnWrite
        case .readWrite: .readWrite
        }
    }
}
