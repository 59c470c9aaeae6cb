import ArgumentParser
import JoblibPersistence
import SystemPackage

struct Hash: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a content digest of each file (XXH3-128, 32 hex digits).",
        discussion: """
            For a file saved with dump(_:to:) the digest is that of the container inside, after \
            decompression: the same dump saved raw, with zstd or with gzip gives the same digest. \
            For any other file it is the digest of its bytes. The output reads like sha256sum's: \
            digest, two spaces, file name. --json also gives the digest of the bytes as stored. \
            A container is checked as load checks it: a damaged one is an error (exit status 1), \
            and FIFOs, devices and /proc files are refused.
            """)

    @Argument(help: "The files to hash.", completion: .file())
    var files: [String]

    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one file") }
    }

    func run() throws {
        var results: [HashJSON] = []
        for file in files {
            try requireFile(file)
            do {
                let digests = try digestFile(at: FilePath(file))
                results.append(HashJSON(file: file, digests: digests))
            } catch {
                throw ToolError(error, doing: "hash \(file)")
            }
        }
        if output.json {
            try printJSON(results)
        } else {
            for result in results { print("\(result.digest)  \(result.file)") }
        }
    }
}

private struct HashJSON: Encodable {
    var file: String
    /// The content digest for containers, the bytes' digest otherwise.
    var digest: String
    var fileDigest: String
    var container: Bool
    var compression: String?
    var fileBytes: Int

    init(file: String, digests: FileDigests) {
        self.file = file
        digest = digests.contentDigest ?? digests.fileDigest
        fileDigest = digests.fileDigest
        container = digests.contentDigest != nil
        compression = digests.compression
        fileBytes = digests.fileBytes
    }
}
