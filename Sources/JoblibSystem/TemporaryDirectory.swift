#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import SystemPackage

/// A fresh directory under `$TMPDIR` (or `/tmp`), removed with everything in it on `deinit`.
package final class TemporaryDirectory: Sendable {
    /// The directory's path.
    package let path: FilePath

    /// Creates the directory with `mkdtemp`; `prefix` helps a person recognise it.
    package init(prefix: String = "joblib") throws(SystemError) {
        let base = environmentValue("TMPDIR").flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(base)/\(prefix)-XXXXXX".utf8CString)
        // mkdir does not fail with EINTR, so a retry never meets a template mkdtemp rewrote.
        let created: UnsafeMutablePointer<CChar>? = try systemCall("mkdtemp", path: base, failsWhen: { $0 == nil }) {
            template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        }
        path = FilePath(String(cString: created!))  // systemCall threw for nil
    }

    deinit { try? removeRecursively(path) }
}

/// Runs `body` with a fresh temporary directory that is removed afterwards, also when it throws.
package func withTemporaryDirectory<R>(prefix: String = "joblib", _ body: (FilePath) throws -> R) throws -> R {
    let directory = try TemporaryDirectory(prefix: prefix)
    return try withExtendedLifetime(directory) { try body(directory.path) }
}

/// Removes a file, or a directory and everything below it. A missing path is not an error.
package func removeRecursively(_ path: FilePath) throws(SystemError) {
    var info = stat()
    guard try systemCall("lstat", path: path.string, nilOn: [.noSuchFileOrDirectory], { lstat(path.string, &info) }) != nil else { return }
    if info.st_mode & S_IFMT == S_IFDIR {
        for entry in try directoryEntries(path) {
            try removeRecursively(path.appending(entry))
        }
        _ = try systemCall("rmdir", path: path.string) { rmdir(path.string) }
    } else {
        _ = try systemCall("unlink", path: path.string) { unlink(path.string) }
    }
}
