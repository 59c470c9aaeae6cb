// JoblibPersistence will hold dump/load, the container format, compressors, NDArray and .npy (DESIGN.md, issue 4).
// It is empty on purpose until then: nothing here pretends to work.
import JoblibCoding
