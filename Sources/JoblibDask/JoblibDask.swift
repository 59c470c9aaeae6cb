// JoblibDask will hold the Dask backend (DESIGN.md, issue 6).
// It is empty on purpose until then: nothing here pretends to work.
import JoblibProcesses
