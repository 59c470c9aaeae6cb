/// One slot per task for outcomes written by workers, read by the caller once the job finished.
// @unchecked Sendable: each slot is written by the one worker that runs its task, and read only
// after the job's completion (a mutex hand-off) orders those writes before the reads.
@usableFromInline
final class ResultSlots<Element>: @unchecked Sendable {
    @usableFromInline let slots: UnsafeMutableBufferPointer<Element?>

    @inlinable
    init(count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil)
    }

    @inlinable
    deinit {
        slots.deinitialize()
        slots.deallocate()
    }

    @inlinable
    subscript(index: Int) -> Element? {
        get { slots[index] }
        set { slots[index] = newValue }
    }

    /// Every slot's value; each must be filled.
    @inlinable
    func values() -> [Element] { slots.map { $0! } }

    /// Every slot's value, `fill(index)` for the empty ones.
    @inlinable
    func values(filling fill: (Int) -> Element) -> [Element] {
        slots.indices.map { slots[$0] ?? fill($0) }
    }
}
