import Foundation
import SystemPackage
import Testing
import JoblibSystem

/// The one directory lister (`forEachDirectoryEntry`) and what is built on it.
@Suite struct DirectoryListingTests {
    @Test func listsNamesAndKindsWithoutDotEntries() throws {
        try withTemporaryDirectory { directory in
            try makeDirectories(directory.appending("sub/inner"))
            try writeNewFile(directory.appending("file.txt"), "x")
            try writeNewFile(directory.appending("..."), "dots are names too")
            #expect(symlink("sub", directory.appending("link").string) == 0)
            var kinds: [String: Bool] = [:]
            try forEachDirectoryEntry(directory) { kinds[$0.nameString] = $0.isDirectory }
            #expect(kinds == ["sub": true, "file.txt": false, "...": false, "link": false])
            #expect(try directoryEntries(directory.appending("sub")) == ["inner"])
            let scan = try scanSubdirectories(directory, files: ["inner", "missing"], filter: { _ in true })
            #expect(scan.map(\.name) == ["sub"])
            #expect(scan.first?.files.map { $0?.isDirectory } == [true, nil])
        }
    }

    @Test func aMissingDirectoryThrowsOrIsEmptyWhereTheCallerSaysSo() throws {
        try withTemporaryDirectory { directory in
            let missing = directory.appending("missing")
            do {
                try forEachDirectoryEntry(missing) { _ in Issue.record("an entry in a missing directory") }
                Issue.record("listing a missing directory did not throw")
            } catch let error as SystemError {
                #expect(error.operation == "opendir" && error.errno == .noSuchFileOrDirectory && error.path == missing.string)
            }
            try writeNewFile(directory.appending("file"), "")
            #expect(throws: SystemError.self) { try directoryEntries(directory.appending("file")) }
            #expect(try scanSubdirectories(missing, files: [], filter: { _ in true }).isEmpty)
            #expect(try scanEntryDirectories(missing, first: "output", second: nil).isEmpty)
            #expect(try scanEntryDirectories(directory.appending("file"), first: "output", second: nil).isEmpty)
        }
    }

    @Test func entryScanRecognisesOnlyHexNamedDirectories() throws {
        try withTemporaryDirectory { directory in
            let name = "0123456789abcdef0123456789abcdef"
            try makeDirectories(directory.appending(name))
            try writeNewFile(directory.appending(name).appending("output"), "12345")
            try makeDirectories(directory.appending(String(name.dropLast())))  // 31 digits
            try makeDirectories(directory.appending(name + "0"))  // 33 digits
            try makeDirectories(directory.appending(name.uppercased()))
            try writeNewFile(directory.appending("fedcba9876543210fedcba9876543210"), "a file, not an entry")
            let found = try scanEntryDirectories(directory, first: "output", second: "metadata")
            #expect(found.map(\.name) == [name])
            #expect(found.first?.first?.size == 5 && found.first?.secondSize == 0)
        }
    }
}
