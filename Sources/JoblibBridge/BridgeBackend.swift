import JoblibParallel

/// The ``/JoblibParallel/ParallelBackend`` of every remote backend: each call runs on a bridge
/// taken from the pool for its settings (``BridgeCall``). The call's timeout becomes the
/// settings' ``BridgeSettings/startWait``, which is not part of the pool's key.
package struct BridgeBackend<Settings: BridgeSettings>: ParallelBackend {
    package let settings: Settings

    package init(settings: Settings) { self.settings = settings }

    package func start(_ job: ParallelJob, workers: Int) throws {
        // The call's timeout also bounds the wait for capacity: at start through the settings,
        // during the call through each submission's timeout (the bridge's watchdog).
        var settings = self.settings
        settings.startWait = job.taskTimeout
        try BridgeCall.start(job, settings: settings)
    }
}

extension Backend {
    /// A remote backend named `name` (progress lines, reports) whose calls run through bridges
    /// for `settings`.
    package static func bridged(name: String, settings: some BridgeSettings) -> Backend {
        Backend(name: name) { BridgeBackend(settings: settings) }
    }
}
