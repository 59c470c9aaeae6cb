/// A worker's outputs waiting to be sent, kept in place.
///
/// An `Array` append in code that knows `Output` only generically (the worker looks task types
/// up by name) costs a runtime metadata lookup per call, a tenth of a tiny task's time in the
/// worker; a method of this class finds `Output` in its own instance and looks nothing up.
final class OutputBuffer<Output> {
    private var base: UnsafeMutablePointer<Output>
    private var capacity: Int
    private(set) var count = 0

    init() {
        capacity = 16
        base = .allocate(capacity: capacity)
    }

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }

    func append(_ output: consuming Output) {
        if count == capacity { grow(to: capacity * 2) }
        (base + count).initialize(to: output)
        count += 1
    }

    func append(contentsOf outputs: UnsafeBufferPointer<Output>) {
        if count + outputs.count > capacity { grow(to: max(capacity * 2, count + outputs.count)) }
        guard let source = outputs.baseAddress else { return }
        (base + count).initialize(from: source, count: outputs.count)
        count += outputs.count
    }

    /// The outputs, in the order they were appended.
    var elements: [Output] { Array(UnsafeBufferPointer(start: base, count: count)) }

    private func grow(to newCapacity: Int) {
        let grown = UnsafeMutablePointer<Output>.allocate(capacity: newCapacity)
        grown.moveInitialize(from: base, count: count)
        base.deallocate()
        base = grown
        capacity = newCapacity
    }
}
