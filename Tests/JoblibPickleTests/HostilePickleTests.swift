import Foundation
import JoblibPersistence
import JoblibPickle
import Testing

/// Loads `bytes` as a PythonValue and returns the PersistenceError code, or nil when it loaded.
private func loadCode(_ bytes: [UInt8]) -> PersistenceError.Code? {
    do {
        _ = try load(PythonValue.self, from: Data(bytes))
        return nil
    } catch let error as PersistenceError {
        return error.code
    } catch {
        Issue.record("\(type(of: error)) is not a PersistenceError: \(error)")
        return nil
    }
}

private func u32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
private func u64(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

@Suite(.timeLimit(.minutes(2))) struct HostilePickleTests {
    /// Pickles whose loading in Python would run a command, create a file, eval code or start a
    /// process load here as inert data (the callable's name and arguments), and nothing happens.
    @Test func codeIsNeverRun() throws {
        let directory = try TemporaryDirectory()
        let marker = directory.path("created-by-pickle")
        try PythonScript.run(["hostile", directory.url.path, marker])
        let files = directory.files
        #expect(files.count == 17)
        for file in files {
            let value = try load(PythonValue.self, from: directory.path(file))
            #expect(!FileManager.default.fileExists(atPath: marker), "\(file) created the marker file")
            guard case .object(let payload)? = value["payload"] ?? nil else {
                // The OrderedDict trick: a dict whose item is the payload object.
                guard case .dict(let entries)? = value["payload"], case .object(let inner) = entries.first?.value else {
                    Issue.record("\(file): payload is \(value["payload"]?.typeName ?? "missing")")
                    continue
                }
                #expect(inner.className == "posix.system" && inner.arguments == [.string("touch " + marker)], "\(file)")
                continue
            }
            let expected: [String: String] = [
                "system": "posix.system", "open": "io.open", "eval": "builtins.eval", "popen": "subprocess.Popen",
            ]
            let kind = String(file.prefix { $0 != "-" })
            #expect(payload.className == expected[kind], "\(file): \(payload.className)")
            #expect(payload.arguments.first?.description.contains(marker) == true || kind == "popen", "\(file): \(payload.arguments)")
            if case .array(let array)? = value["array"] { #expect(try array.values(as: Double.self) == [0, 1, 2]) }
            // A typed load refuses the object, naming its class and where it was.
            struct Payload: Decodable { var payload: String }
            do {
                _ = try load(Payload.self, from: directory.path(file))
                Issue.record("\(file): decoded a string from an object")
            } catch let error as PersistenceError {
                #expect(error.code == .typeMismatch && error.message.contains(payload.className) && error.message.contains("value.payload"), "\(error)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    /// `getattr(__import__('os'), 'system')('…')` spelled with STACK_GLOBAL and chained REDUCEs:
    /// the result of a call is never called; the chain stays a description.
    @Test func chainedReducesStayInert() throws {
        func string(_ text: String) -> [UInt8] { [0x8C, UInt8(text.utf8.count)] + Array(text.utf8) }
        var bytes: [UInt8] = [0x80, 4]
        bytes += string("builtins") + string("getattr") + [0x93]
        bytes += string("builtins") + string("__import__") + [0x93] + string("os") + [0x85, 0x52]  // __import__('os')
        bytes += string("system") + [0x86, 0x52]  // getattr(os, 'system')
        bytes += string("touch /nonexistent/should-not-exist") + [0x85, 0x52, 0x2E]  // (...)('touch …')
        let value = try load(PythonValue.self, from: Data(bytes))
        guard case .object(let call) = value else {
            Issue.record("not an object: \(value)")
            return
        }
        #expect(call.className == "<object returned by builtins.getattr>")
        #expect(call.arguments == [.string("touch /nonexistent/should-not-exist")])
    }

    /// Huge lengths, memo abuse, deep nesting, cycles and truncation are clear errors.
    @Test func boundsAreEnforced() throws {
        // A string claiming 2^62 bytes, bytes claiming 4 GiB, a LONG4 claiming 2 GiB.
        #expect(loadCode([0x80, 4, 0x8D] + u64(1 << 62) + [0x61, 0x2E]) == .truncated)
        #expect(loadCode([0x80, 4, 0x42] + u32(.max) + [0x2E]) == .truncated)
        #expect(loadCode([0x80, 4, 0x8B] + u32(0x7FFF_FFFF) + [0x2E]) == .truncated)
        // A memo entry that was never stored; a huge memo index is fine when stored.
        #expect(loadCode([0x80, 4, 0x6A] + u32(4_000_000_000) + [0x2E]) == .corruptHeader)
        #expect(loadCode([0x80, 4, 0x4E, 0x72] + u32(4_000_000_000) + [0x6A] + u32(4_000_000_000) + [0x2E]) == nil)
        // A list that contains itself.
        #expect(loadCode([0x80, 4, 0x5D, 0x94, 0x68, 0, 0x61, 0x2E]) == .corruptHeader)
        // 100,000 nested lists: refused past the depth limit, without exhausting the stack.
        let depth = 100_000
        #expect(loadCode([0x80, 4] + [UInt8](repeating: 0x5D, count: depth) + [UInt8](repeating: 0x61, count: depth - 1) + [0x2E]) == .corruptHeader)
        // Shared references that would expand to 2^100 nodes: stays compact.
        var shared: [UInt8] = [0x80, 4, 0x5D]
        for _ in 0..<100 { shared += [0x32, 0x86] }  // DUP, TUPLE2: (x, x)
        shared += [0x2E]
        let tree = try load(PythonValue.self, from: Data(shared))
        #expect(tree.description.utf8.count < 1_000_000)
        // Stack misuse, unknown opcodes, bytes after STOP, out-of-band buffers, protocol 0 text.
        #expect(loadCode([0x80, 4, 0x61, 0x2E]) == .corruptHeader)
        #expect(loadCode([0x80, 4, 0x65, 0x2E]) == .corruptHeader)
        #expect(loadCode([0x80, 4, 0xFF, 0x2E]) == .corruptHeader)
        #expect(loadCode([0x80, 4, 0x4E, 0x2E, 0x00]) == .corruptHeader)
        #expect(loadCode([0x80, 5, 0x97, 0x2E]) == .unsupportedFeature)
        #expect(loadCode([0x80, 2, 0x49] + Array("1\n".utf8) + [0x2E]) == .unsupportedFeature)
        #expect(loadCode([0x80, 2, 0x51, 0x2E]) == .unsupportedFeature)
        // A NumpyArrayWrapper whose shape claims more bytes than the file holds.
        let wrapper = try dump(NDArray(shape: [2], [1.0, 2.0]), format: .pythonJoblib)
        var patched = [UInt8](wrapper)
        let shapeAt = try #require(patched.firstRange(of: [0x4B, 2, 0x85])).lowerBound  // BININT1 2, TUPLE1
        patched.replaceSubrange(shapeAt..<shapeAt + 2, with: [0x4A] + u32(0x7FFF_FFFF))
        #expect(loadCode(patched) == .truncated)
    }

    /// Every truncation of a real file is a clear error, never a crash.
    @Test func everyTruncationIsAnError() throws {
        let value = PythonValue.dict([
            PythonDictEntry(key: .string("a"), value: .array(NumpyArray(shape: [3], [1.0, 2, 3]))),
            PythonDictEntry(key: .string("b"), value: .list([.int(1), .string("x"), .tuple([.none, .bool(true)])])),
        ])
        let bytes = [UInt8](try dump(value, format: .pythonJoblib))
        for length in 0..<bytes.count {
            let code = loadCode(Array(bytes[..<length]))
            #expect(code == .truncated || code == .notOurFile, "length \(length): \(String(describing: code))")
        }
        #expect(loadCode(bytes) == nil)
    }
}
