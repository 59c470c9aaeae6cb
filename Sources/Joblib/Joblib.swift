// The umbrella: `import Joblib` gives the whole public API and nothing else lives here.
@_exported import JoblibCoding
@_exported import JoblibDask
@_exported import JoblibMemory
@_exported import JoblibParallel
@_exported import JoblibPersistence
@_exported import JoblibPickle
@_exported import JoblibProcesses
@_exported import JoblibRay
@_exported import JoblibTypes
// `Memory(location:)`, `dump` and `load` take swift-system's `FilePath`: re-exported (the type
// itself, not a typealias) so that a program that also imports SystemPackage sees one `FilePath`.
@_exported import struct SystemPackage.FilePath
