import Foundation
import Glibc
import JoblibSystem
import Synchronization
import SystemPackage

/// The processes of a test cluster on 127.0.0.1 (a Dask scheduler and its workers, Ray nodes), by
/// name, and what makes sure none of them outlives the tests.
///
/// Every process started is written down in a file of this checkout's (named by a hash of its
/// path), and the next run of this checkout kills whatever a run that died before its teardown
/// left; runs in two checkouts never kill each other's clusters. With `processGroups`, each
/// process leads a group of its own (it is started through `setsid`) and is signalled as a whole
/// group: everything it started goes with it.
package final class LoopbackClusterProcesses: Sendable {
    private let processes = Mutex<[String: ChildProcess]>([:])
    private let leftovers: URL
    private let processGroups: Bool

    /// Kills what a dead run of this checkout left of this kind of cluster, then starts empty.
    ///
    /// - Parameters:
    ///   - kind: the kind of cluster (`dask`, `ray`), which names the file of started processes.
    ///   - processGroups: start each process in a group of its own and signal whole groups.
    ///   - recognisedBy: words that a leftover's command line contains when it is still one of
    ///     ours (its pid may belong to another program by now).
    package init(kind: String, processGroups: Bool, recognisedBy words: [String]) {
        leftovers = URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("joblib-\(kind)-tests-\(Self.checkoutTag).pids")
        self.processGroups = processGroups
        killLeftovers(recognisedBy: words)
    }

    /// A short stable name for the checkout these tests were built from (FNV-1a of its path).
    private static let checkoutTag: String = {
        var digest: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in #filePath.utf8 {
            digest = (digest ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return String(digest, radix: 16)
    }()

    /// Starts `executable` as `name`, its standard output and error going to `log` (created), and
    /// writes it down.
    package func start(
        _ name: String, executable: String, arguments: [String], environment: [String: String], log: URL
    ) throws -> ChildProcess {
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        let output = FileDescriptor(rawValue: handle.fileDescriptor)
        let process = try ChildProcess.spawn(
            executable: processGroups ? "/usr/bin/setsid" : executable,
            arguments: processGroups ? [executable] + arguments : arguments,
            environment: environment, descriptors: [(output, 1)], standardError: output)
        processes.withLock { $0[name] = process }
        recordLeftover(process.pid)
        return process
    }

    /// Waits until `log` contains `marker`: throws when `process` ends first or `timeout` passes.
    /// `what` names the process in the error (`Dask worker w1`), `ready` what it did not do in time.
    package static func wait(
        for process: ChildProcess, what: String, ready: String, log: URL, containing marker: String,
        timeout: Duration = .seconds(60)
    ) throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let text = try? String(contentsOf: log, encoding: .utf8), text.contains(marker) { return }
            if let status = process.poll() { throw ClusterError("\(what) ended (\(status)); see \(log.path)") }
            usleep(50_000)
        }
        throw ClusterError("\(what) did not \(ready) within \(timeout.components.seconds) s; see \(log.path)")
    }

    /// The running processes' pids by name (with `processGroups`, also their process groups).
    package var pids: [String: Int32] { processes.withLock { $0.mapValues(\.pid) } }

    /// SIGKILLs `name` (its whole group with `processGroups`), as a host loss would, and reaps it.
    package func kill(_ name: String) {
        guard let process = processes.withLock({ $0.removeValue(forKey: name) }) else { return }
        if processGroups { Glibc.kill(-process.pid, SIGKILL) } else { process.kill(SIGKILL) }
        _ = process.wait()
    }

    /// Stops every process, `last` after all the others: SIGTERM, then SIGKILL for what has not
    /// ended after `grace` (and, with `processGroups`, for whatever is left in their groups).
    /// Forgets the written-down pids and removes `directory`.
    package func stop(last: String, grace: Duration, removing directory: URL) {
        let all = processes.withLock { processes -> [String: ChildProcess] in
            defer { processes.removeAll() }
            return processes
        }
        terminate(all.filter { $0.key != last }.map(\.value), grace: grace)
        terminate(all[last].map { [$0] } ?? [], grace: grace)
        try? FileManager.default.removeItem(at: leftovers)
        try? FileManager.default.removeItem(at: directory)
    }

    private func terminate(_ group: [ChildProcess], grace: Duration) {
        for process in group { process.kill(SIGTERM) }
        let deadline = ContinuousClock.now + grace
        for process in group where process.wait(timeout: max(deadline - ContinuousClock.now, .zero)) == nil {
            process.kill(SIGKILL)
            _ = process.wait()
        }
        if processGroups { for process in group { Glibc.kill(-process.pid, SIGKILL) } }
    }

    private func recordLeftover(_ pid: Int32) {
        let line = "\(pid)\n"
        if let handle = try? FileHandle(forWritingTo: leftovers) {
            handle.seekToEndOfFile()
            handle.write(line.data(using: .utf8)!)
            try? handle.close()
        } else {
            try? line.write(to: leftovers, atomically: true, encoding: .utf8)
        }
    }

    private func killLeftovers(recognisedBy words: [String]) {
        guard let text = try? String(contentsOf: leftovers, encoding: .utf8) else { return }
        for pid in text.split(separator: "\n").compactMap({ Int32($0) }) {
            let commandLine = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            guard words.allSatisfy(commandLine.contains) else { continue }
            Glibc.kill(processGroups ? -pid : pid, SIGKILL)
        }
        try? FileManager.default.removeItem(at: leftovers)
    }
}

/// A test cluster that could not start.
package struct ClusterError: Error, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = description }
}

/// The standard output of a short command, nil when it fails; `environment` is added to ours.
package func commandOutput(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) -> String? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return nil }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return process.terminationStatus == 0 ? String(decoding: data, as: UTF8.self) : nil
}
