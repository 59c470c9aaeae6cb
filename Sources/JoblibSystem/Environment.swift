#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// The value of the environment variable `name`, if set.
package func environmentValue(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

/// This process's environment variables, as a dictionary (for a child's environment).
package func currentEnvironment() -> [String: String] {
    var result: [String: String] = [:]
    var pointer = environ
    while let entry = pointer.pointee {
        let text = String(cString: entry)
        if let equals = text.firstIndex(of: "=") {
            result[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        pointer += 1
    }
    return result
}

/// The path of the executable `name` as a shell would find it: `name` itself when it contains a
/// slash, else the first executable file of that name in a directory of `PATH`.
package func findExecutable(_ name: String, path: String? = environmentValue("PATH")) -> String? {
    if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
    for directory in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
        let candidate = directory.hasSuffix("/") ? "\(directory)\(name)" : "\(directory)/\(name)"
        if access(candidate, X_OK) == 0 { return candidate }
    }
    return nil
}

/// Removes the environment variable `name` from this process's environment (`unsetenv`), so that
/// processes started later do not inherit it.
package func removeEnvironmentValue(_ name: String) {
    unsetenv(name)
}

/// Runs `body` when the process exits normally (`atexit`).
package func runAtExit(_ body: @escaping @convention(c) () -> Void) {
    atexit(body)
}

/// Ends the process normally with `status`: `atexit` handlers run and C buffers are flushed (`exit`).
package func exitProcess(_ status: Int32) -> Never {
    exit(status)
}

/// Ends the process at once with `status`: no `atexit` handlers, no buffers flushed (`_exit`).
package func exitImmediately(_ status: Int32) -> Never {
    _exit(status)
}

/// Ends the process at once as if killed from outside (`SIGKILL` to itself): for tests of deaths
/// at exact points.
package func killThisProcess() -> Never {
    raise(SIGKILL)
    _exit(137)
}
