import Foundation
import JoblibPersistence
import JoblibPickle
import Testing

@Suite struct PythonValueCodableTests {
    /// Self-describing formats decode into plain Python data: JSON, and our own container
    /// (its binary format tags every value).
    @Test func plainDataFromOtherDecoders() throws {
        let value = try load(PythonValue.self, from: try dump(["a": 1.0, "b": 2.0]))
        guard case .dict(let entries) = value else {
            Issue.record("not a dict: \(value)")
            return
        }
        #expect(Set(entries.map(\.key.description)) == ["'a'", "'b'"] && value["a"] == .float(1) && value["b"] == .float(2))
        let json = try JSONDecoder().decode(PythonValue.self, from: Data(#"{"a": [1, 2.5, null, "x", true]}"#.utf8))
        #expect(json == .dict([PythonDictEntry(key: .string("a"), value: .list([.int(1), .float(2.5), .none, .string("x"), .bool(true)]))]))
        // And encode back as plain JSON; objects are refused.
        let text = String(decoding: try JSONEncoder().encode(PythonValue.list([.int(1), .none, .tuple([.string("x")])])), as: UTF8.self)
        #expect(text == #"[1,null,["x"]]"#)
        #expect(throws: EncodingError.self) { try JSONEncoder().encode(PythonValue.object(PythonObject(className: "os.system"))) }
    }
}
