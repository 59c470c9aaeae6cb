import JoblibSystem
import Synchronization

/// joblib's progress grammar (`Parallel.print_progress`, `_verbosity_filter`,
/// `logger.short_format_time`), as pure functions so that tests pin the exact text.
package enum ProgressFormat {
    /// `" %5.1fs"`, or `"%4.1fmin"` above 60 s, as joblib's `short_format_time`.
    package static func time(_ seconds: Double) -> String {
        if seconds > 60 { return pad(fixed1(seconds / 60), 4) + "min" }
        return " " + pad(fixed1(seconds), 5) + "s"
    }

    /// Digits needed for `total`: joblib's `floor(log10(n_tasks)) + 1`, 3 when unknown or 0.
    package static func width(total: Int) -> Int {
        total > 0 ? String(total).count : 3
    }

    /// `[Parallel(jobs=2)]: ` then the message.
    package static func line(jobs: String, _ message: String) -> String {
        "[Parallel(jobs=\(jobs))]: \(message)"
    }

    /// `Done  42 out of 100 | elapsed:    1.2s`, then ` remaining:    1.7s` or ` finished`.
    package static func done(_ done: Int, total: Int, elapsed: Double, remaining: Double? = nil, finished: Bool = false) -> String {
        let width = width(total: total)
        var text = "Done \(pad(String(done), width)) out of \(pad(String(total), width)) | elapsed: \(time(elapsed))"
        if let remaining { text += " remaining: \(time(remaining))" }
        if finished { text += " finished" }
        return text
    }

    /// joblib's estimate of the time left: the mean time per finished task so far, times the
    /// tasks not finished yet (`elapsed_time / max(index, 1) * (n_dispatched_tasks - index)`).
    package static func remaining(elapsed: Double, done: Int, total: Int) -> Double {
        elapsed / Double(max(done, 1)) * Double(max(total - done, 0))
    }

    /// `Done  42 tasks      | elapsed:    1.2s`: joblib's line while the number of tasks is unknown.
    package static func done(_ done: Int, elapsed: Double) -> String {
        "Done \(pad(String(done), 3)) tasks      | elapsed: \(time(elapsed))"
    }

    /// joblib's `_verbosity_filter`: whether the line after `index` dispatched batches is skipped.
    package static func skipWhileDispatching(index: Int, verbose: Int) -> Bool {
        if verbose == 0 { return true }
        if verbose > 10 || index == 0 { return false }
        let scale = 0.5 * Double((11 - verbose) * (11 - verbose))
        return Int((Double(index + 1) / scale).squareRoot()) == Int((Double(index) / scale).squareRoot())
    }

    /// joblib's rule once every task is dispatched: print for the first completion, then every
    /// `total / verbose + 1` tasks counted from the end, never for the last-but-one.
    package static func printAfterDispatch(done: Int, total: Int, verbose: Int) -> Bool {
        if done == 0 { return true }
        if done + 1 == total { return false }
        let cursor = total - done + 1
        let frequency = total / max(verbose, 1) + 1
        return cursor % frequency == 0
    }

    /// A one-line progress bar: `[Parallel(jobs=2)] [########----]  42/100  35.0 tasks/s  ETA    1.7s`.
    package static func bar(jobs: String, done: Int, total: Int, elapsed: Double, finished: Bool) -> String {
        let cells = 24
        let filled = total > 0 ? min(cells, done * cells / total) : cells
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let tail = finished
            ? "elapsed \(time(elapsed))"
            : "ETA \(time(done > 0 ? elapsed / Double(done) * Double(total - done) : 0))"
        let width = width(total: total)
        return "[Parallel(jobs=\(jobs))] [\(String(repeating: "#", count: filled))\(String(repeating: "-", count: cells - filled))] "
            + "\(pad(String(done), width))/\(total) \(pad(fixed1(rate), 8)) tasks/s  \(tail)"
    }

    private static func fixed1(_ value: Double) -> String {
        let tenths = (value * 10).rounded()
        guard tenths.isFinite, abs(tenths) < 1e15 else { return String(value) }
        let whole = Int(tenths)
        let sign = whole < 0 ? "-" : ""
        return "\(sign)\(abs(whole) / 10).\(abs(whole) % 10)"
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }
}

/// Where progress text goes; tests substitute a recorder.
package struct ProgressOutput: Sendable {
    /// Writes a piece of text (lines carry their own newline).
    package var write: @Sendable (String) -> Void
    /// Whether this is an interactive terminal (it then gets a progress bar instead of lines).
    package var isTerminal: Bool

    package init(isTerminal: Bool, write: @escaping @Sendable (String) -> Void) {
        self.isTerminal = isTerminal
        self.write = write
    }

    /// Standard error, as joblib writes below `verbose: 50`.
    package static var standardError: ProgressOutput {
        ProgressOutput(isTerminal: JoblibSystem.isTerminal(2)) { writeToStandardError($0) }
    }

    /// Standard output, as joblib writes from `verbose: 50` on.
    package static var standardOutput: ProgressOutput {
        ProgressOutput(isTerminal: false) { writeToStandardOutput($0) }
    }
}

/// The callback type of ``Parallel/progress``: tasks completed, tasks in the call, time elapsed.
/// While a sequence that does not know its count is still being read, the total is the number
/// of tasks read so far.
public typealias ParallelProgressHandler = @Sendable (_ completed: Int, _ total: Int, _ elapsed: Duration) -> Void

/// Prints one call's progress (lines or a bar) and calls its progress callback, one report at a time.
final class ProgressReporter: Sendable {
    let verbose: Int
    let jobsLabel: String
    /// The tasks in the call when known up front (nil for a lazy sequence until it ends).
    let total: Int?
    let handler: ParallelProgressHandler?
    let output: ProgressOutput
    let drawsBar: Bool
    let start = monotonicNanoseconds()
    private let state = Mutex<(reported: Int, lastBar: UInt64, closed: Bool)>((0, 0, false))

    init(verbose: Int, jobsLabel: String, total: Int?, handler: ParallelProgressHandler?, output: ProgressOutput?) {
        self.verbose = verbose
        self.jobsLabel = jobsLabel
        self.total = total
        self.handler = handler
        self.output = output ?? (verbose >= 50 ? .standardOutput : .standardError)
        self.drawsBar = verbose > 0 && self.output.isTerminal
    }

    private var elapsed: Double { Double(monotonicNanoseconds() - start) / 1e9 }

    func started(backendName: String, workers: Int) {
        guard verbose != 0, !drawsBar, workers > 1, total != 0 else { return }
        output.write(ProgressFormat.line(jobs: jobsLabel, "Using backend \(backendName) with \(workers) concurrent workers.") + "\n")
    }

    func batchSizeChanged(_ message: String) {
        guard verbose >= 10, !drawsBar else { return }
        output.write(ProgressFormat.line(jobs: jobsLabel, message) + "\n")
    }

    func batchCompleted(_ progress: ParallelJob.Progress) {
        guard verbose != 0 || handler != nil else { return }
        state.withLock { state in
            guard !state.closed, progress.completed > state.reported else { return }
            state.reported = progress.completed
            let now = monotonicNanoseconds()
            let elapsed = Double(now - start) / 1e9
            // While a lazy input is being read, the total is the tasks read so far.
            let total = progress.total ?? progress.dispatchedTasks
            handler?(progress.completed, total, .nanoseconds(Int64(now - start)))
            if verbose == 0 || progress.completed == progress.total { return }
            if progress.total == nil {
                if drawsBar || ProgressFormat.skipWhileDispatching(index: progress.dispatchedBatches, verbose: verbose) { return }
                output.write(ProgressFormat.line(jobs: jobsLabel, ProgressFormat.done(progress.completed, elapsed: elapsed)) + "\n")
            } else if drawsBar {
                guard now - state.lastBar > 100_000_000 else { return }
                state.lastBar = now
                output.write("\r" + ProgressFormat.bar(jobs: jobsLabel, done: progress.completed, total: total, elapsed: elapsed, finished: false))
            } else {
                // Which completions get a line: joblib's two rules, while batches are still being
                // handed out and after. Every line carries joblib's `remaining:` estimate, which
                // joblib prints once its input is fully dispatched: ours is a collection whose
                // size is known from the start, so the estimate holds from the first line on.
                let done = progress.completed
                if progress.dispatching {
                    if ProgressFormat.skipWhileDispatching(index: progress.dispatchedBatches, verbose: verbose) { return }
                } else {
                    guard ProgressFormat.printAfterDispatch(done: done, total: total, verbose: verbose) else { return }
                }
                let remaining = ProgressFormat.remaining(elapsed: elapsed, done: done, total: total)
                output.write(ProgressFormat.line(
                    jobs: jobsLabel, ProgressFormat.done(done, total: total, elapsed: elapsed, remaining: remaining)) + "\n")
            }
        }
    }

    /// The last line (or the completed bar): only after a call that succeeded.
    func finished(total: Int) {
        guard verbose != 0, total > 0 else { return }
        state.withLock { state in
            guard !state.closed else { return }
            let elapsed = self.elapsed
            if drawsBar {
                output.write("\r" + ProgressFormat.bar(jobs: jobsLabel, done: total, total: total, elapsed: elapsed, finished: true) + "\n")
            } else {
                output.write(ProgressFormat.line(jobs: jobsLabel, ProgressFormat.done(total, total: total, elapsed: elapsed, finished: true)) + "\n")
            }
        }
    }

    /// No more reports; ends a half-drawn bar with a newline.
    func close() {
        state.withLock { state in
            if drawsBar && !state.closed && state.lastBar != 0 && state.reported < (total ?? .max) { output.write("\n") }
            state.closed = true
        }
    }
}
