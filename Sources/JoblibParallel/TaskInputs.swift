import Synchronization

/// A call's inputs, read lazily: each batch takes the next inputs from the sequence when it is
/// handed out, so the first task starts before the sequence is exhausted and only the inputs of
/// batches in flight are held (joblib's `pre_dispatch`, bounded by the batches in flight: one per
/// worker, two per worker thread on a cluster).
///
/// The sequence's iterator is used by one worker at a time, under the job's input lock.
// @unchecked Sendable: `take` mutates the captured iterator; the job serialises its calls.
@usableFromInline
final class InputSource: @unchecked Sendable {
    /// The number of inputs, when the sequence tells it without being read (a random-access
    /// collection, or one whose `underestimatedCount` is its count); nil for a lazy sequence.
    let count: Int?
    private let take: (_ start: Int, _ limit: Int) -> (chunk: AnyObject & Sendable, count: Int)

    @usableFromInline
    init<Inputs: Sequence>(_ inputs: Inputs) where Inputs.Element: Sendable {
        count = Self.countWithoutReading(inputs)
        var iterator = inputs.makeIterator()
        take = { start, limit in
            var elements: [Inputs.Element] = []
            elements.reserveCapacity(Swift.min(limit, 1 << 16))
            while elements.count < limit, let element = iterator.next() { elements.append(element) }
            return (InputChunk(start: start, elements: elements), elements.count)
        }
    }

    /// Up to `limit` next inputs, the first of which has index `start`.
    func next(start: Int, limit: Int) -> (chunk: AnyObject & Sendable, count: Int) { take(start, limit) }

    private static func countWithoutReading<Inputs: Sequence>(_ inputs: Inputs) -> Int? {
        if let collection = inputs as? any RandomAccessCollection { return collection.count }
        // Set, Dictionary: counted in O(1); lazy filters report 0 and stay lazy.
        if let collection = inputs as? any Collection, inputs.underestimatedCount > 0 { return collection.count }
        return nil
    }
}

/// Consecutive inputs of a call, shared by a batch and the batches split from it.
@usableFromInline
final class InputChunk<Input: Sendable>: Sendable {
    @usableFromInline let start: Int
    @usableFromInline let elements: [Input]

    init(start: Int, elements: [Input]) {
        self.start = start
        self.elements = elements
    }

    @inlinable
    subscript(index: Int) -> Input { elements[index - start] }
}

/// Outcomes written by workers in any order (one task's outcome, or a batch's run of them),
/// assembled in input order once the call is over.
@usableFromInline
final class ResultStore<Element: Sendable>: Sendable {
    private let state = Mutex<(runs: [(start: Int, values: [Element])], singles: [(index: Int, value: Element)])>(([], []))

    @usableFromInline init() {}

    /// The outcomes of consecutive tasks, the first of which has index `start`.
    @usableFromInline func store(from start: Int, _ values: [Element]) {
        guard !values.isEmpty else { return }
        state.withLock { $0.runs.append((start, values)) }
    }

    /// The outcome of one task.
    @usableFromInline func store(_ index: Int, _ value: Element) {
        state.withLock { $0.singles.append((index, value)) }
    }

    /// Every outcome in input order, `fill(index)` for the tasks that have none.
    @usableFromInline func values(count: Int, filling fill: (Int) -> Element) -> [Element] {
        let (runs, singles) = state.withLock { ($0.runs, $0.singles) }
        if runs.count == 1, singles.isEmpty, runs[0].start == 0, runs[0].values.count == count { return runs[0].values }
        var slots = [Element?](repeating: nil, count: count)
        for run in runs {
            for (offset, value) in run.values.enumerated() where run.start + offset < count { slots[run.start + offset] = value }
        }
        for single in singles where single.index < count { slots[single.index] = single.value }
        return slots.indices.map { slots[$0] ?? fill($0) }
    }

    /// Every outcome in input order; each task must have one.
    @usableFromInline func values(count: Int) -> [Element] {
        values(count: count) { index in preconditionFailure("task \(index) has no outcome") }
    }
}
