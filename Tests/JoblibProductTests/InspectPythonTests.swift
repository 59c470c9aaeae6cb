import Foundation
import Joblib
import JoblibTestSupport
import Testing

@Suite(.timeLimit(.minutes(1)))
struct InspectPythonTests {
    /// `joblib inspect` shows a file of Python's joblib.dump as a tree: objects by class name,
    /// arrays with dtype and shape, the compression and the pickle protocol.
    @Test func showsAPythonJoblibFileAsATree() throws {
        let scratch = try Scratch()
        let file = scratch.path("python.joblib")
        let python3 = try #require(TestSupport.which("python3"), "python3 with joblib and scikit-learn is needed (scripts/setup.sh)")
        let made = try TestSupport.run(python3, ["-c", """
            import joblib, numpy as np
            from sklearn.preprocessing import StandardScaler
            joblib.dump({"scaler": StandardScaler().fit(np.arange(12.0).reshape(4, 3)),
                         "weights": np.zeros((3, 2), dtype="float32"), "name": "demo"},
                        "\(file)", compress=("zlib", 3), protocol=4)
            """])
        try #require(made.status == 0, "python failed: \(made.output)")

        let run = try Tool.run("joblib", ["inspect", file])
        #expect(run.status == 0, "stderr: \(run.errors)")
        #expect(run.output.contains("Python joblib file (pickle protocol 4)"))
        #expect(run.output.contains("compression: zlib (cannot be memory-mapped)"))
        #expect(run.output.contains("scaler: sklearn.preprocessing._data.StandardScaler object (not constructed)"))
        #expect(run.output.contains("mean_: numpy.ndarray float64 [3]"))
        #expect(run.output.contains("weights: numpy.ndarray float32 [3, 2]"))
        #expect(run.output.contains("name: str 'demo'"))

        let jsonRun = try Tool.run("joblib", ["inspect", "--json", file])
        let report = try #require(try json(jsonRun.output) as? [String: Any])
        #expect(report["format"] as? String == "python-joblib")
        #expect(report["pickleProtocol"] as? Int == 4)
        #expect(report["compression"] as? String == "zlib")
        let value = try #require(report["value"] as? [String: Any])
        let children = try #require(value["children"] as? [[String: Any]])
        let weights = try #require(children.first { $0["key"] as? String == "weights" })
        #expect(weights["dtype"] as? String == "float32" && weights["shape"] as? [Int] == [3, 2])

        // Written by Swift for Python, uncompressed: mappable.
        let ours = scratch.path("for-python.joblib")
        try dump(["x": NDArray(shape: [4], [1.0, 2, 3, 4])], to: ours, format: .pythonJoblib)
        let plain = try Tool.run("joblib", ["inspect", ours])
        #expect(plain.status == 0)
        #expect(plain.output.contains("compression: none (arrays can be memory-mapped)"))
        #expect(plain.output.contains("x: numpy.ndarray float64 [4]"))
    }
}
