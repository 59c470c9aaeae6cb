import Foundation
import Joblib

/// The out-of-range `NDArray` accesses of `ndarray-out-of-range KIND`.
enum OutOfRangeAccess: String, CaseIterable {
    /// `a[5]` of 5 elements.
    case read
    /// `a[-1] = 1`.
    case write
    /// `m[[2, 0]]` of a 2 × 3 array: the flat index (6) is past the end too.
    case readShaped = "read-shaped"
    /// `m[[0, 3]] = 1`: the flat index (3) is inside the array, the column is not.
    case writeShaped = "write-shaped"
    /// `m[[1]]`: one index for two dimensions.
    case wrongRank = "wrong-rank"
}

/// `ndarray-out-of-range KIND`: makes one out-of-range access to an `NDArray` (KIND: read, write,
/// read-shaped, write-shaped, wrong-rank). It must trap with its message on standard error; if it
/// returns, this prints `no trap: …` and exits with status 0, which the test reports.
func runNDArrayOutOfRange(_ arguments: [String]) {
    guard let kind = arguments.first.flatMap(OutOfRangeAccess.init(rawValue:)) else {
        print("usage: ndarray-out-of-range \(OutOfRangeAccess.allCases.map(\.rawValue).joined(separator: "|"))")
        exit(2)
    }
    // Read from the arguments' count so that the optimiser cannot see the indices in advance.
    let one = CommandLine.arguments.count - 2
    var vector = NDArray<Double>([1, 2, 3, 4, 5])
    var matrix = NDArray<Double>(shape: [2, 3], [1, 2, 3, 4, 5, 6])
    print("about to access \(kind.rawValue)")
    fflush(nil)
    switch kind {
    case .read: print("no trap: read \(vector[4 + one])")
    case .write:
        vector[-one] = 1
        print("no trap: wrote \(vector)")
    case .readShaped: print("no trap: read \(matrix[[1 + one, 0]])")
    case .writeShaped:
        matrix[[0, 2 + one]] = 1
        print("no trap: wrote \(matrix)")
    case .wrongRank: print("no trap: read \(matrix[[one]])")
    }
}
