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
    @usableFromInline let count: Int?
    @usableFromInline let take: (_ start: Int, _ limit: Int) -> (chunk: AnyObject & Sendable, count: Int)

    @usableFromInline
    init(count: Int?, take: @escaping (_ start: Int, _ limit: Int) -> (chunk: AnyObject & Sendable, count: Int)) {
        self.count = count
        self.take = take
    }

    /// The inputs of `inputs`. Inlinable, so that reading is specialised for the caller's types.
    @inlinable
    static func reading<Inputs: Sequence>(_ inputs: Inputs) -> InputSource where Inputs.Element: Sendable {
        var count: Int?
        if let collection = inputs as? any RandomAccessCollection {
            count = collection.count
        } else if let collection = inputs as? any Collection, inputs.underestimatedCount > 0 {
            // Set, Dictionary: counted in O(1); lazy filters report 0 and stay lazy.
            count = collection.count
        }
        if let array = inputs as? [Inputs.Element] {
            // An array (the usual case) is read in slices, one bulk copy each: element by element
            // through a generic caller it took 14 % of the calling process's time with tiny tasks.
            var position = 0
            return InputSource(count: array.count) { start, limit in
                let end = position + Swift.min(limit, array.count - position)
                let elements = Array(array[position..<end])
                position = end
                return (InputChunk(start: start, elements: elements), elements.count)
            }
        }
        var iterator = inputs.makeIterator()
        return InputSource(count: count) { start, limit in
            var elements: [Inputs.Element] = []
            elements.reserveCapacity(Swift.min(limit, count.map { $0 - start } ?? (1 << 16)))
            while elements.count < limit, let element = iterator.next() { elements.append(element) }
            return (InputChunk(start: start, elements: elements), elements.count)
        }
    }

    /// Up to `limit` next inputs, the first of which has index `start`.
    func next(start: Int, limit: Int) -> (chunk: AnyObject & Sendable, count: Int) { take(start, limit) }
}

/// Consecutive inputs of a call, shared by a batch and the batches split from it.
@usableFromInline
final class InputChunk<Input: Sendable>: Sendable {
    @usableFromInline let start: Int
    @usableFromInline let elements: [Input]

    @usableFromInline
    init(start: Int, elements: [Input]) {
        self.start = start
        self.elements = elements
    }

    @inlinable
    subscript(index: Int) -> Input { elements[index - start] }
}

/// Outcomes written by workers in any order (one task's outcome, or a batch's run of them),
/// read in input order once the call is over.
///
/// When the number of tasks is known up front, outcomes go straight to their slot, without a
/// lock; otherwise each batch's outcomes are kept as a run and assembled at the end. Slots hold
/// plain elements beside a flag per slot (not optionals), so that a call whose every task has
/// an outcome reads them out in one bulk copy: element by element, through the unspecialised
/// generic code of a public `run`, it took 17 % of the calling process's time with 20,000 tiny
/// tasks on `.processes` (BENCHMARKS.md, "Tiny tasks").
// @unchecked Sendable: each slot is written by the one worker that ran its task, and read only
// after the job's completion (a mutex hand-off) orders those writes before the reads.
@usableFromInline
final class ResultStore<Element: Sendable>: @unchecked Sendable {
    @usableFromInline let slots: UnsafeMutableBufferPointer<Element>?
    /// Whether each slot holds an outcome (1) or is uninitialised (0).
    @usableFromInline let filled: UnsafeMutableBufferPointer<UInt8>?
    @usableFromInline let state = Mutex<(runs: [(start: Int, values: [Element])], singles: [(index: Int, value: Element)])>(([], []))

    /// A store for `count` outcomes, or for as many as the call turns out to have (nil).
    @inlinable init(count: Int?) {
        if let count {
            slots = UnsafeMutableBufferPointer<Element>.allocate(capacity: count)
            let filled = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: count)
            filled.initialize(repeating: 0)
            self.filled = filled
        } else {
            slots = nil
            filled = nil
        }
    }

    @inlinable deinit {
        guard let slots, let filled else { return }
        if Self.allFilled(filled, count: filled.count) {
            slots.deinitialize()
        } else {
            for index in 0..<filled.count where filled[index] != 0 { (slots.baseAddress! + index).deinitialize(count: 1) }
        }
        slots.deallocate()
        filled.deallocate()
    }

    @inlinable static func allFilled(_ filled: UnsafeMutableBufferPointer<UInt8>, count: Int) -> Bool {
        var all: UInt8 = 1
        for index in 0..<count { all &= filled[index] }
        return all != 0
    }

    /// Puts `value` in slot `index` (the slots exist).
    @inlinable func put(_ index: Int, _ value: Element, _ slots: UnsafeMutableBufferPointer<Element>, _ filled: UnsafeMutableBufferPointer<UInt8>) {
        if filled[index] != 0 {
            slots[index] = value
        } else {
            (slots.baseAddress! + index).initialize(to: value)
            filled[index] = 1
        }
    }

    /// Runs `batch` with `produce` computing a task's outcome, and stores the outcomes; returns
    /// how many tasks completed. Inlinable, so that the loop is specialised for the call.
    @inlinable func run(_ batch: ParallelBatch, _ produce: (Int) throws -> Element) -> Int {
        if let slots, let filled { return batch.forEachTask { index in put(index, try produce(index), slots, filled) } }
        var outputs: [Element] = []
        outputs.reserveCapacity(batch.indices.count)
        let completed = batch.forEachTask { index in outputs.append(try produce(index)) }
        store(from: batch.indices.lowerBound, outputs)
        return completed
    }

    /// ``run(_:_:)`` for `async` bodies.
    @inlinable func run(_ batch: ParallelBatch, _ produce: (Int) async throws -> Element) async -> Int {
        var outputs: [Element] = []
        let completed = await batch.forEachTask { index in outputs.append(try await produce(index)) }
        store(from: batch.indices.lowerBound, outputs)
        return completed
    }

    /// The outcomes of consecutive tasks, the first of which has index `start`.
    @inlinable func store(from start: Int, _ values: [Element]) {
        guard !values.isEmpty else { return }
        if let slots, let filled {
            let range = start..<(start + values.count)
            if range.allSatisfy({ filled[$0] == 0 }) {
                // Fresh slots (the usual case): one bulk copy.
                values.withUnsafeBufferPointer { (slots.baseAddress! + start).initialize(from: $0.baseAddress!, count: $0.count) }
                UnsafeMutableBufferPointer(rebasing: filled[range]).update(repeating: 1)
            } else {
                for offset in values.indices { put(start + offset, values[offset], slots, filled) }
            }
            return
        }
        state.withLock { $0.runs.append((start, values)) }
    }

    /// The outcomes of the tasks at `indices` (`values[k]` is task `indices[k]`'s).
    @inlinable func store(at indices: [Int], _ values: [Element]) {
        guard let first = indices.first else { return }
        if indices.indices.allSatisfy({ indices[$0] == first + $0 }) { return store(from: first, values) }
        for position in indices.indices { store(indices[position], values[position]) }
    }

    /// The outcome of one task.
    @inlinable func store(_ index: Int, _ value: Element) {
        if let slots, let filled {
            put(index, value, slots, filled)
            return
        }
        state.withLock { $0.singles.append((index, value)) }
    }

    /// Every outcome in input order, `fill(index)` for the tasks that have none.
    @inlinable func values(count: Int, filling fill: (Int) -> Element) -> [Element] {
        if let slots, let filled {
            let count = min(count, slots.count)
            if Self.allFilled(filled, count: count) {
                return [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
                    if count > 0 { buffer.baseAddress!.initialize(from: slots.baseAddress!, count: count) }
                    initialized = count
                }
            }
            return (0..<count).map { filled[$0] != 0 ? slots[$0] : fill($0) }
        }
        let (runs, singles) = state.withLock { ($0.runs, $0.singles) }
        if runs.count == 1, singles.isEmpty, runs[0].start == 0, runs[0].values.count == count { return runs[0].values }
        var slots = [Element?](repeating: nil, count: count)
        slots.withUnsafeMutableBufferPointer { slots in
            for run in runs {
                for (offset, value) in run.values.enumerated() where run.start + offset < count { slots[run.start + offset] = value }
            }
            for single in singles where single.index < count { slots[single.index] = single.value }
        }
        var result: [Element] = []
        result.reserveCapacity(count)
        for index in 0..<count { result.append(slots[index] ?? fill(index)) }
        return result
    }

    /// Every outcome in input order; each task must have one.
    @inlinable func values(count: Int) -> [Element] {
        values(count: count) { index in preconditionFailure("task \(index) has no outcome") }
    }
}
