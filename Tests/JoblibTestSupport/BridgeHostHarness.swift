import Foundation
import JoblibSystem

/// Runs a bridge's worker host (the Dask `SwiftWorkerPlugin`, the Ray `SwiftWorkerHost`) from the
/// scripts in `Sources/` in a plain `python3`, without a cluster, over a fake Swift worker that
/// answers every batch: for races in the host that a cluster only hits by timing.
package enum BridgeHostHarness {
    /// The statuses (0 ok, 1 the Swift worker died, 2 infrastructure) of two batches on one host:
    /// the driver's cancel of the first reaches the host just as its Swift worker sent its last
    /// results (the host kills that worker); the second must still run (on a new Swift worker).
    /// nil when Python or the backend's package is missing, or the harness failed or took over
    /// a minute (its output is in the test's log).
    package static func statusesAfterALateCancel(backend: String) throws -> (first: Int, second: Int)? {
        guard let python = findExecutable("python3") else { return nil }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("joblib-bridge-host-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let fake = directory.appendingPathComponent("fake-worker")
        try Data(fakeWorker.utf8).write(to: fake)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: fake.path)
        let output = directory.appendingPathComponent("statuses")
        let process = try ChildProcess.spawn(
            executable: python, arguments: ["-c", harness, sourcesDirectory.path, backend, fake.path, output.path],
            environment: currentEnvironment())
        guard process.wait(timeout: .seconds(60)) == .exited(0) else {
            process.kill()
            _ = process.wait()
            return nil
        }
        let words = try String(contentsOf: output, encoding: .utf8).split(separator: " ").compactMap { Int($0) }
        return words.count == 2 ? (words[0], words[1]) : nil
    }

    /// The environment a bridge's host gives a new Swift worker when the host itself runs with ours,
    /// without the variables `removed` and with `environment` added (a fake worker writes what it
    /// got as JSON, then shakes hands).
    /// nil when Python is missing or the harness failed or took over a minute.
    package static func swiftWorkerEnvironment(hostAdding environment: [String: String], removing removed: [String]) throws -> [String: String]? {
        guard let python = findExecutable("python3") else { return nil }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("joblib-bridge-env-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let fake = directory.appendingPathComponent("fake-worker")
        try Data(environmentWorker.utf8).write(to: fake)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: fake.path)
        let output = directory.appendingPathComponent("environment.json")
        let script = """
            import os, sys
            sources, fake = sys.argv[1:3]
            scope = {"__name__": "bridge_scripts"}
            for path in ("JoblibBridge/bridge_channel.py", "JoblibBridge/swift_worker.py"):
                with open(os.path.join(sources, path)) as handle:
                    exec(compile(handle.read(), path, "exec"), scope)
            scope["SwiftWorker"](fake, 10).stop()
            """
        var hostEnvironment = currentEnvironment().filter { !removed.contains($0.key) }.merging(environment) { $1 }
        hostEnvironment["HARNESS_ENVIRONMENT_OUTPUT"] = output.path
        let process = try ChildProcess.spawn(
            executable: python, arguments: ["-c", script, sourcesDirectory.path, fake.path], environment: hostEnvironment)
        guard process.wait(timeout: .seconds(60)) == .exited(0) else {
            process.kill()
            _ = process.wait()
            return nil
        }
        return try JSONDecoder().decode([String: String].self, from: Data(contentsOf: output))
    }

    /// Writes its environment as JSON where `HARNESS_ENVIRONMENT_OUTPUT` says, shakes hands, then
    /// waits for the end of its tasks.
    private static let environmentWorker = """
        #!/usr/bin/env python3
        import json, os, struct
        with open(os.environ["HARNESS_ENVIRONMENT_OUTPUT"], "w") as handle:
            json.dump(dict(os.environ), handle)
        os.write(4, struct.pack("<IB", 0, 1))
        while os.read(3, 65536):
            pass
        """

    private static var sourcesDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources").standardized
    }

    /// The worker protocol as far as a host relays it: the handshake, then one `results` frame
    /// counting one outcome per batch.
    private static let fakeWorker = """
        #!/usr/bin/env python3
        # A Swift worker's side of the worker protocol, as far as the host relays it: the handshake, then
        # one results frame counting one outcome per batch.
        import os, struct
        def send(kind, body):
            os.write(4, struct.pack("<IB", len(body), kind) + body)
        def read(count):
            data = b""
            while len(data) < count:
                chunk = os.read(3, count - len(data))
                if not chunk:
                    raise SystemExit(0)
                data += chunk
            return data
        send(1, b"")
        while True:
            length, kind = struct.unpack("<IB", read(5))
            read(length)
            if kind == 2:
                send(3, struct.pack("<I", 1))
        """

    private static let harness = """
        import os, struct, sys, threading
        sources, backend, fake, output = sys.argv[1:5]
        scope = {"__name__": "bridge_scripts"}
        for path in ("JoblibBridge/bridge_channel.py", "JoblibBridge/swift_worker.py",
                     "JoblibDask/dask_bridge.py" if backend == "dask" else "JoblibRay/ray_bridge.py"):
            with open(os.path.join(sources, path)) as handle:
                exec(compile(handle.read(), path, "exec"), scope)
        SwiftWorker = scope["SwiftWorker"]

        class Worker:  # what a Dask WorkerPlugin's setup reads
            name, address = "harness", "tcp://127.0.0.1:0"

        if backend == "dask":
            host = scope["SwiftWorkerPlugin"]("harness", fake, None, 10)
            host.setup(Worker())
            assert host.error is None, host.error
            def run(ident):
                return host.run(b"batch", 1, 0, ident)
            def close():
                host.teardown(Worker())
        else:
            host = scope["SwiftWorkerHost"](fake, None, 10)
            assert host.error is None, host.error
            def run(ident):
                return host.run(b"batch", 1, 0, ident)
            def close():
                host.stop()

        # The driver's cancel of submission 1 reaches the host just as its Swift worker sent its last
        # results: the cancel kills that worker, which may not have died yet when the host decides
        # whether to keep it.
        plain = SwiftWorker.run
        def run_then_cancelled(self, *arguments):
            answer = plain(self, *arguments)
            canceller = threading.Thread(target=host.cancel, args=([1],))
            canceller.start()
            canceller.join()
            return answer
        SwiftWorker.run = run_then_cancelled
        first, _ = run(1)
        SwiftWorker.run = plain
        second, body = run(2)
        close()
        with open(output, "w") as handle:
            handle.write("%d %d" % (first, second))
        """
}
