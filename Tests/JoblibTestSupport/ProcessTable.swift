import Foundation

// What tests that start processes read from /proc: who is alive, who is whose child, and what
// each runs. Zombies count as gone: they run nothing, and their parent may not reap them soon.

/// A process's state letter, parent and process group, from `/proc/PID/stat`; nil once it is gone.
private func processStat(of pid: Int32) -> (state: Substring, parent: Int32, group: Int32)? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = text.lastIndex(of: ")")  // the command name in brackets may hold spaces
    else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 3, let parent = Int32(fields[1]), let group = Int32(fields[3]) else { return nil }
    return (fields[0], parent, group)
}

/// The pids of every live process.
private func livePIDs() -> [(pid: Int32, parent: Int32, group: Int32)] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { Int32($0) }.compactMap { pid in
        guard let stat = processStat(of: pid), stat.state != "Z" else { return nil }
        return (pid, stat.parent, stat.group)
    }
}

/// Whether a process runs (and is not a zombie).
package func isAlive(_ pid: Int32) -> Bool {
    guard let stat = processStat(of: pid) else { return false }
    return stat.state != "Z"
}

/// A process's command line, its arguments separated by spaces ("" once it is gone).
package func commandLine(of pid: Int32) -> String {
    let data = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
    return String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
}

/// The live children of `parent`, with their command lines.
package func liveChildren(of parent: Int32) -> [(pid: Int32, commandLine: String)] {
    livePIDs().filter { $0.parent == parent }.map { ($0.pid, commandLine(of: $0.pid)) }
}

/// Command lines of this process's live children.
package func childCommandLines() -> [String] { liveChildren(of: getpid()).map(\.commandLine) }

/// Pids still alive in the process groups `groups`.
package func survivors(ofGroups groups: [Int32]) -> [Int32] {
    livePIDs().filter { groups.contains($0.group) }.map(\.pid)
}

/// Whether `pid` runs the executable of this process (a worker: this program re-executed).
package func runsThisExecutable(_ pid: Int32) -> Bool {
    let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
    return (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) == me
}

/// Polls `condition` every 50 ms for up to `seconds`; whether it became true.
package func waitFor(seconds: Double, _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return condition()
}
