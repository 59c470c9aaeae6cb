// JoblibProcesses will hold the process backend and its worker runtime (DESIGN.md, issue 8).
// It is empty on purpose until then: nothing here pretends to work.
import JoblibParallel
