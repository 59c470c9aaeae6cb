// JoblibParallel will hold Parallel, ParallelTask, the backend protocol, the sequential and thread backends (DESIGN.md, issue 3).
// It is empty on purpose until then: nothing here pretends to work.
import JoblibCoding
