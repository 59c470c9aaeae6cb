/// The bounds a pickle read stays within, whatever the stream claims.
///
/// Lengths are also checked against the bytes left before anything is allocated, so a stream can
/// never make the reader allocate much more than its own size; these limits bound the rest.
package struct PickleLimits: Sendable {
    /// The deepest nesting of containers and objects in the result (Python's own recursion limit
    /// is 1000; real files, scikit-learn models included, stay far below this).
    package var maxDepth = 256
    /// The most memo entries (`PUT`, `MEMOIZE`) a stream may create.
    package var maxMemoEntries = 1 << 24
    /// The most bytes the reader may allocate for the values it builds, array bytes kept in place
    /// excepted (they are views of the input).
    package var maxAllocation = 1 << 32
    /// How many pickles may nest (joblib writes object arrays as a pickle inside the pickle).
    package var maxNestedStreams = 4
    /// The most values a typed decode may visit (shared sub-trees count each time they are met).
    package var maxDecodedValues = 1 << 26

    package init() {}
}
