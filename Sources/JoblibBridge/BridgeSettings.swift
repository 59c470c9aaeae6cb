import JoblibParallel

/// What a remote backend (Dask, Ray) supplies to the shared bridge machinery: everything else (the
/// bridge process, its pool, the call loop, the Swift worker host on the cluster) is written once,
/// here. Two settings that compare equal share idle bridges.
package protocol BridgeSettings: Hashable, Sendable {
    /// The backend's name in messages: "the \(backendName) bridge".
    var backendName: String { get }
    /// The Python interpreter that runs the bridge: a path, or a name looked up in `PATH`.
    var python: String { get }
    /// Where the user picks another interpreter, for messages (`"DaskOptions.python"`).
    var pythonOptionName: String { get }
    /// The shell command that installs what the bridge imports, for messages.
    var installCommand: String { get }
    /// The backend's own program, run after the shared ones (`bridge_channel.py`, `swift_worker.py`).
    var script: BridgeScript { get }
    /// The program's command-line arguments.
    func arguments() throws -> [String]
    /// How long the bridge may take to send `ready` or `failed`.
    var startTimeout: Duration { get }
    /// A call's timeout (``BridgeBackend`` sets it): how long a bridge that this call starts waits
    /// for capacity on the cluster, when shorter than the backend's own wait. Not part of the
    /// bridge's identity (`==` and `hash(into:)` ignore it), so that calls with different
    /// timeouts share bridges; during a call each submission's own timeout bounds its wait.
    var startWait: Duration? { get set }
    /// A failure in the backend's own error type; ``BridgeFailure/workerStartFailed`` never comes
    /// here (it is a ``/JoblibParallel/ParallelError``).
    func error(_ failure: BridgeFailure, _ message: String, taskIndex: Int?) -> any Error
    /// How many submissions a call keeps in flight, given what the bridge reported at start.
    func inFlightLimit(_ bridge: Bridge) -> Int
    /// Bridges whose settings share a group hold the same cluster's capacity (Ray's actors
    /// reserve resources): before a new one starts, the idle ones of its group stop. nil: none.
    var capacityGroup: String? { get }
    /// Arrays of at least this many bytes in a call's tasks go to the bridge once per call, as
    /// objects (`object` frames), instead of inside each submission; nil: the bridge takes no
    /// objects, everything travels inline (BridgeProtocol.md, "Objects").
    var objectThreshold: Int? { get }
}

/// A Python program compiled into a module (`.embedInCode`), with the file name tracebacks show.
package struct BridgeScript: Sendable {
    package var name: String
    package var text: [UInt8]

    package init(name: String, text: [UInt8]) {
        self.name = name
        self.text = text
    }
}

/// The codes of `failed` frames and infrastructure results (BridgeProtocol.md), the same for every
/// backend; each maps them to its own error type.
package struct BridgeFailure: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    package var rawValue: UInt8
    package init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The interpreter is missing or cannot run the bridge (found on this side, never sent).
    package static let pythonUnavailable = BridgeFailure(rawValue: 0)
    /// Python runs but cannot import the backend's package (dask.distributed, ray).
    package static let runtimeUnavailable = BridgeFailure(rawValue: 1)
    /// Nothing answered at the cluster's address within the connect timeout.
    package static let unreachable = BridgeFailure(rawValue: 2)
    /// Client and cluster run different Python or package versions.
    package static let versionMismatch = BridgeFailure(rawValue: 3)
    /// No worker (Dask) or node (Ray) can run the work.
    package static let noWorkers = BridgeFailure(rawValue: 4)
    /// The Swift worker process cannot start on the cluster.
    package static let workerStartFailed = BridgeFailure(rawValue: 5)
    /// The cluster gave up on one submission; its tasks fail, the call goes on.
    package static let taskLost = BridgeFailure(rawValue: 6)
    /// The connection to the cluster broke.
    package static let clusterLost = BridgeFailure(rawValue: 7)
    /// The bridge failed or broke the protocol.
    package static let bridgeFailed = BridgeFailure(rawValue: 8)

    package var description: String { "bridge failure \(rawValue)" }
}

extension BridgeSettings {
    package var capacityGroup: String? { nil }
    package var objectThreshold: Int? { nil }

    /// The error for a failure code and message: the backend's type, or ``/JoblibParallel/ParallelError``
    /// `workerStartFailed`.
    package func failure(_ failure: BridgeFailure, _ message: String, taskIndex: Int? = nil) -> any Error {
        if failure == .workerStartFailed { return ParallelError(.workerStartFailed, message) }
        return error(failure, message, taskIndex: taskIndex)
    }

    /// The error a `failed` frame or an infrastructure result describes (u8 code, UTF-8 message).
    package func failure(frame body: [UInt8], taskIndex: Int? = nil) -> any Error {
        let code = BridgeFailure(rawValue: body.first ?? BridgeFailure.bridgeFailed.rawValue)
        let known = (1...8).contains(code.rawValue) ? code : .bridgeFailed
        return failure(known, String(decoding: body.dropFirst(), as: UTF8.self), taskIndex: taskIndex)
    }

    /// `"1.5"`: a duration as seconds on a command line.
    package static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return String(Double(seconds) + Double(attoseconds) / 1e18)
    }
}
