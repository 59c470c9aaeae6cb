// JoblibMemory will hold Memory, the disk cache for function calls (DESIGN.md, issue 5).
// It is empty on purpose until then: nothing here pretends to work.
import JoblibPersistence
