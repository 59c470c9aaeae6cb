import Foundation
import JoblibPersistence
import JoblibTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` on a thread of its own and waits at most `seconds` for it. A body that blocks
/// (a FIFO opened for reading waits for a writer) is released by `unblock` and the test fails,
/// instead of the test run hanging.
func finishesQuickly<R: Sendable>(
    _ what: String, seconds: Double = 10, unblock: @escaping @Sendable () -> Void, _ body: @escaping @Sendable () -> R
) -> R? {
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var result: R?
    Thread.detachNewThread {
        result = body()
        done.signal()
    }
    if done.wait(timeout: .now() + seconds) == .timedOut {
        Issue.record("\(what) blocked for more than \(seconds) s")
        unblock()
        _ = done.wait(timeout: .now() + 10)
        return nil
    }
    return result
}

/// A FIFO at `path`, and how to release a reader blocked on it (open it for writing, close it).
func makeFIFO(_ path: String) throws -> @Sendable () -> Void {
    guard mkfifo(path, 0o644) == 0 else { throw CocoaError(.fileWriteUnknown) }
    return {
        let fd = open(path, O_WRONLY | O_NONBLOCK)
        if fd >= 0 { close(fd) }
    }
}

/// The error a load threw, as code and text.
func loadFailure(_ body: () throws -> Void) -> (code: PersistenceError.Code, error: PersistenceError)? {
    do {
        try body()
        return nil
    } catch let error as PersistenceError {
        return (error.code, error)
    } catch {
        Issue.record("not a PersistenceError: \(error)")
        return nil
    }
}

@Suite(.timeLimit(.minutes(1)))
struct SpecialFileTests {
    @Test func aFIFOIsRefusedAtOnceInEveryMode() throws {
        let scratch = try Scratch()
        let path = scratch.path("pipe.joblib")
        let unblock = try makeFIFO(path)
        for mode in [nil, MappingMode.readOnly, .copyOnWrite, .readWrite] {
            let failure = finishesQuickly("load of a FIFO (\(String(describing: mode)))", unblock: unblock) {
                loadFailure { _ = try load([Double].self, from: path, mapping: mode) { _ in } }.map { "\($0.code)|\($0.error)" }
            }
            let text = try #require(failure ?? nil)
            #expect(text.hasPrefix("notRegularFile|"), "\(text)")
            #expect(text.contains("FIFO"), "\(text)")
        }
        let npy = finishesQuickly("reading a FIFO as .npy", unblock: unblock) {
            loadFailure { _ = try NDArray<Double>(npyFrom: path) }?.code.rawValue
        }
        #expect(npy == "notRegularFile")
    }

    @Test(arguments: ["/dev/zero", "/dev/null", "/proc/self/status", "/proc/self/maps", "/tmp"])
    func devicesGeneratedFilesAndDirectoriesAreRefused(path: String) throws {
        let failure = loadFailure { _ = try load([Double].self, from: path) }
        #expect(failure?.code == .notRegularFile, "\(path): \(String(describing: failure?.error))")
        #expect(failure?.error.message.contains(path) == true)
    }

    /// A missing file names its path once; the underlying error is not repeated in brackets.
    @Test func errorTextsSayEachThingOnce() throws {
        let scratch = try Scratch()
        let missing = scratch.path("missing.joblib")
        let failure = try #require(loadFailure { _ = try load([Double].self, from: missing) })
        #expect(failure.code == .io)
        let text = "\(failure.error)"
        #expect(text.components(separatedBy: missing).count == 2, "the path appears once: \(text)")
        #expect(!text.contains("["), "no repeated underlying error: \(text)")
        #expect(text.contains("no such file"))

        // A dump into a missing directory names the user's file and the directory, never our temporary file.
        let target = scratch.path("no/such/dir/model.joblib")
        let dumped = try #require(loadFailure { try dump([1.0], to: target) })
        let dumpText = "\(dumped.error)"
        #expect(dumped.code == .io)
        #expect(dumpText.contains(target) && dumpText.contains("'\(scratch.path("no/such/dir"))' does not exist"), "\(dumpText)")
        #expect(!dumpText.contains(".tmp-"), "\(dumpText)")
        #expect(dumpText.components(separatedBy: target).count == 2, "\(dumpText)")
    }

    /// `typeMismatch` says what the file holds: the type's name is stored in the header.
    @Test func typeMismatchNamesTheStoredType() throws {
        let scratch = try Scratch()
        let path = scratch.path("m.joblib")
        try dump(GoldenModel.reference, to: path)
        let failure = try #require(loadFailure { _ = try load([Double].self, from: path) })
        #expect(failure.code == .typeMismatch)
        #expect(failure.error.message.contains("holds a JoblibPersistenceTests.GoldenModel, not a Swift.Array<Swift.Double>"), "\(failure.error.message)")
        #expect(!"\(failure.error)".contains("CodingError"), "\(failure.error)")
        let compressed = try dump([1, 2, 3], compression: .zstd(level: 1))
        let other = try #require(loadFailure { _ = try load(String.self, from: compressed) })
        #expect(other.error.message.contains("holds a Swift.Array<Swift.Int>, not a Swift.String"), "\(other.error.message)")
        // A version-1 file has no type name: the message still says what was asked for.
        let golden = GoldenTests.directory.appendingPathComponent("model-v1.joblib").path
        let old = try #require(loadFailure { _ = try load([Double].self, from: golden) })
        #expect(old.code == .typeMismatch && old.error.message.contains("another type than Swift.Array<Swift.Double>"), "\(old.error.message)")
    }
}
