import Foundation
import JoblibPersistence
import JoblibPickle
import Testing

/// A fitted `StandardScaler`'s state, as its attributes.
private struct Scaler: Decodable {
    var mean_: [Double]
    var scale_: [Double]
    var n_features_in_: Int
}

/// A fitted `LinearRegression`'s state.
private struct LinearModel: Decodable {
    var coef_: [Double]
    var intercept_: Double
}

private struct Expected: Decodable {
    var x: NDArray<Double>
    var scaled: NDArray<Double>
    var predicted: [Double]
}

@Suite(.timeLimit(.minutes(2))) struct ScikitLearnTests {
    /// Swift reads the fitted estimators' arrays and reproduces `transform` and `predict` to 1e-12.
    @Test func reproducesTransformAndPredict() throws {
        let directory = try TemporaryDirectory()
        try PythonScript.run(["sklearn", directory.url.path])
        let scaler = try load(Scaler.self, from: directory.path("scaler.joblib"))
        let model = try load(LinearModel.self, from: directory.path("model.joblib"))
        let expected = try load(Expected.self, from: directory.path("expected.joblib"))
        #expect(scaler.n_features_in_ == 4 && scaler.mean_.count == 4 && model.coef_.count == 4)
        let rows = expected.x.shape[0], columns = expected.x.shape[1]
        #expect(expected.scaled.shape == [rows, columns] && expected.predicted.count == rows)
        for row in 0..<rows {
            var prediction = model.intercept_
            for column in 0..<columns {
                let scaled = (expected.x[[row, column]] - scaler.mean_[column]) / scaler.scale_[column]
                #expect(abs(scaled - expected.scaled[[row, column]]) <= 1e-12)
                prediction += scaled * model.coef_[column]
            }
            #expect(abs(prediction - expected.predicted[row]) <= 1e-12, "row \(row): \(prediction) vs \(expected.predicted[row])")
        }

        // The dynamic view: an inert object with its class name and state; nothing constructed.
        let tree = try load(PythonValue.self, from: directory.path("model.joblib"))
        guard case .object(let object) = tree else {
            Issue.record("the model is \(tree.typeName), not an object")
            return
        }
        #expect(object.className == "sklearn.linear_model._base.LinearRegression")
        if case .array(let coef)? = tree["coef_"] { #expect(coef.dtype == .float64 && coef.shape == [4]) } else { Issue.record("no coef_ array") }
        #expect(tree.description.hasPrefix("sklearn.linear_model._base.LinearRegression("))
    }

    /// A typed load that meets an object it cannot map names the class and where it was.
    @Test func typeMismatchNamesClassAndPath() throws {
        let directory = try TemporaryDirectory()
        try PythonScript.run(["sklearn", directory.url.path])
        struct Wrong: Decodable { var coef_: [String] }
        struct Holder: Decodable { var model: Double }
        do {
            _ = try load(Wrong.self, from: directory.path("model.joblib"))
            Issue.record("decoding strings from a float64 array succeeded")
        } catch let error as PersistenceError {
            #expect(error.code == .typeMismatch)
            #expect(error.message.contains("value.coef_[0]"), "\(error)")
        }
        do {
            _ = try load([Double].self, from: directory.path("scaler.joblib"))
            Issue.record("decoding [Double] from an estimator succeeded")
        } catch let error as PersistenceError {
            #expect(error.code == .typeMismatch)
            #expect(error.message.contains("sklearn.preprocessing._data.StandardScaler"), "\(error)")
        }
    }
}
