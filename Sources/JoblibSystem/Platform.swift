#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

@inline(__always) package func systemErrno() -> Int32 { errno }

