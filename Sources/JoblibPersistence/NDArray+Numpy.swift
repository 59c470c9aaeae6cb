import JoblibCoding
import JoblibPickle
import JoblibSystem

/// `NDArray` stands for a numpy array in Python joblib files: loading one keeps the elements in
/// place (a mapped file's pages, or the buffer the file was read into) when they are native-endian,
/// row-major and aligned, and copies (converting) otherwise.
extension NDArray: NumpyArrayConvertible {
    package init(numpyArray: NumpyArray) throws(PickleError) {
        try numpyArray.checkElementType(Element.bulkElementType)
        guard MemoryLayout<Element>.stride == numpyArray.dtype.itemSize else {
            throw PickleError(.typeMismatch, "\(Element.self) does not have the memory layout of numpy's \(numpyArray.dtype)")
        }
        let array = numpyArray.normalized()
        let bytes = array.buffer.bytes, count = array.count
        guard count > 0, let base = bytes.baseAddress, Int(bitPattern: base) % MemoryLayout<Element>.alignment == 0 else {
            self.init(shape: array.shape, storage: NDArrayStorage(copying: bytes, count: count))
            return
        }
        // Writable in place only through a writable mapping; other views copy on first write,
        // since several arrays of one pickle may share the same bytes (memo references).
        let owner: AnyObject = array.buffer.owner ?? array.buffer
        let writable = (owner as? MemoryMapping).map { $0.access != .readOnly } ?? false
        let elements = UnsafeMutableRawPointer(mutating: base).assumingMemoryBound(to: Element.self)
        self.init(shape: array.shape, storage: NDArrayStorage(viewing: elements, count: count, owner: owner, writable: writable))
    }

    package var numpyArray: NumpyArray {
        let bytes = UnsafeRawBufferPointer(storage.buffer)
        return NumpyArray(dtype: NumpyDType(Element.bulkElementType), shape: shape, buffer: NumpyBuffer(viewing: bytes, owner: storage))
    }
}
