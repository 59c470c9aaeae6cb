/// A Swift array type that stands for a numpy array in pickles (`NDArray` conforms): the decoder
/// builds it from a ``NumpyArray`` directly (keeping a mapped file's bytes in place) and the
/// encoder writes it as one, through joblib's `NumpyArrayWrapper`.
package protocol NumpyArrayConvertible {
    /// The value from a numpy array read from a pickle.
    init(numpyArray: NumpyArray) throws(PickleError)
    /// The value as a numpy array to write.
    var numpyArray: NumpyArray { get }
}
