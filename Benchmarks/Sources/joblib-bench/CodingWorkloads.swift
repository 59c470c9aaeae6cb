import Foundation
import Joblib

/// A struct holding one large numeric array, as a model's weights would.
private struct Weights: Codable { var name: String; var values: [Double] }

/// A small record, as a table row would be.
private struct Record: Codable { var id: Int; var name: String; var x: Double; var flag: Bool }

/// The smallest struct: one field (a task's argument, say).
private struct Small: Codable { var value: Int }

private func megabytesPerSecond(_ bytes: Int, _ seconds: Double) -> Double { Double(bytes) / seconds / 1e6 }

/// `memcpy` of `count` bytes into a fresh buffer: the memory-speed baseline, faults included.
private func memcpyTime(bytes source: UnsafeRawBufferPointer) -> Double {
    bestTime {
        let destination = UnsafeMutableRawBufferPointer.allocate(byteCount: source.count, alignment: 64)
        destination.copyMemory(from: source)
        blackHole(destination[source.count / 2])
        destination.deallocate()
    }
}

let codingWorkloads: [Workload] = [
    Workload(name: "coding-doubles", summary: "encode+decode a struct of 10M Doubles vs JSONEncoder and memcpy") {
        let count = 10_000_000
        let value = Weights(name: "w", values: (0..<count).map { Double($0) * 0.001 })
        let payload = count * 8
        var encoded: [UInt8] = []
        let encode = try bestTime { encoded = try BinaryEncoder().encode(value) }
        let decode = try bestTime { blackHole(try BinaryDecoder().decode(Weights.self, from: encoded)) }
        let copy = value.values.withUnsafeBytes { memcpyTime(bytes: $0) }
        // JSON is ~1000x slower: measure it on a 200k-element slice and report its rate.
        let small = Weights(name: "w", values: Array(value.values.prefix(200_000)))
        var json = Data()
        let jsonEncode = try bestTime(repetitions: 1) { json = try JSONEncoder().encode(small) }
        let jsonDecode = try bestTime(repetitions: 1) { blackHole(try JSONDecoder().decode(Weights.self, from: json)) }
        let rate = megabytesPerSecond(payload, encode + decode)
        let jsonRate = megabytesPerSecond(200_000 * 8, jsonEncode + jsonDecode)
        let memcpyRate = megabytesPerSecond(payload, copy)
        return [
            Figure(workload: "coding-doubles", metric: "encode", value: megabytesPerSecond(payload, encode), unit: "MB/s"),
            Figure(workload: "coding-doubles", metric: "decode", value: megabytesPerSecond(payload, decode), unit: "MB/s"),
            Figure(workload: "coding-doubles", metric: "encode+decode", value: rate, unit: "MB/s"),
            Figure(workload: "coding-doubles", metric: "json-encode+decode", value: jsonRate, unit: "MB/s"),
            Figure(workload: "coding-doubles", metric: "memcpy", value: memcpyRate, unit: "MB/s"),
            Figure(workload: "coding-doubles", metric: "ratio-vs-json", value: rate / jsonRate, unit: "x"),
            Figure(workload: "coding-doubles", metric: "ratio-vs-memcpy-roundtrip", value: rate / (memcpyRate / 2), unit: "x"),
        ]
    },
    Workload(name: "coding-records", summary: "encode+decode 100k small structs vs JSONEncoder") {
        let records = (0..<100_000).map { Record(id: $0, name: "record \($0)", x: Double($0) / 3, flag: $0 % 2 == 0) }
        let payload = records.reduce(0) { $0 + 8 + $1.name.utf8.count + 8 + 1 }
        var encoded: [UInt8] = []
        let encode = try bestTime { encoded = try BinaryEncoder().encode(records) }
        let decode = try bestTime { blackHole(try BinaryDecoder().decode([Record].self, from: encoded)) }
        var json = Data()
        let jsonEncode = try bestTime(repetitions: 2) { json = try JSONEncoder().encode(records) }
        let jsonDecode = try bestTime(repetitions: 2) { blackHole(try JSONDecoder().decode([Record].self, from: json)) }
        let rate = megabytesPerSecond(payload, encode + decode)
        let jsonRate = megabytesPerSecond(payload, jsonEncode + jsonDecode)
        return [
            Figure(workload: "coding-records", metric: "encode", value: megabytesPerSecond(payload, encode), unit: "MB/s"),
            Figure(workload: "coding-records", metric: "decode", value: megabytesPerSecond(payload, decode), unit: "MB/s"),
            Figure(workload: "coding-records", metric: "encoded-size", value: Double(encoded.count) / 1e6, unit: "MB"),
            Figure(workload: "coding-records", metric: "json-size", value: Double(json.count) / 1e6, unit: "MB"),
            Figure(workload: "coding-records", metric: "encode+decode", value: rate, unit: "MB/s"),
            Figure(workload: "coding-records", metric: "json-encode+decode", value: jsonRate, unit: "MB/s"),
            Figure(workload: "coding-records", metric: "ratio-vs-json", value: rate / jsonRate, unit: "x"),
        ]
    },
    Workload(name: "coding-small", summary: "encode+decode 100k one-field structs, ns per element, vs JSONEncoder") {
        let count = 100_000
        let values = (0..<count).map { Small(value: $0) }
        var encoded: [UInt8] = []
        let encode = try bestTime(repetitions: 5) { encoded = try BinaryEncoder().encode(values) }
        let decode = try bestTime(repetitions: 5) { blackHole(try BinaryDecoder().decode([Small].self, from: encoded)) }
        var json = Data()
        let jsonEncode = try bestTime(repetitions: 2) { json = try JSONEncoder().encode(values) }
        let jsonDecode = try bestTime(repetitions: 2) { blackHole(try JSONDecoder().decode([Small].self, from: json)) }
        func nanoseconds(_ seconds: Double) -> Double { seconds / Double(count) * 1e9 }
        return [
            Figure(workload: "coding-small", metric: "encode", value: nanoseconds(encode), unit: "ns/element"),
            Figure(workload: "coding-small", metric: "decode", value: nanoseconds(decode), unit: "ns/element"),
            Figure(workload: "coding-small", metric: "encode+decode", value: nanoseconds(encode + decode), unit: "ns/element"),
            Figure(workload: "coding-small", metric: "json-encode", value: nanoseconds(jsonEncode), unit: "ns/element"),
            Figure(workload: "coding-small", metric: "json-decode", value: nanoseconds(jsonDecode), unit: "ns/element"),
            Figure(workload: "coding-small", metric: "json-encode+decode", value: nanoseconds(jsonEncode + jsonDecode), unit: "ns/element"),
            Figure(workload: "coding-small", metric: "speedup-vs-json", value: (jsonEncode + jsonDecode) / (encode + decode), unit: "x"),
        ]
    },
    Workload(name: "hash-1gb", summary: "hash() of a 1 GiB [Double] vs memcpy of the same bytes") {
        let count = 1 << 27  // 1 GiB of Doubles
        let values = [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count { buffer[i] = Double(i) }
            initialized = count
        }
        var digest = ""
        let seconds = try bestTime { digest = try hash(values) }
        blackHole(digest)
        let copy = values.withUnsafeBytes { memcpyTime(bytes: $0) }
        let rate = Double(count * 8) / seconds / 1e9
        return [
            Figure(workload: "hash-1gb", metric: "hash", value: rate, unit: "GB/s"),
            Figure(workload: "hash-1gb", metric: "memcpy", value: Double(count * 8) / copy / 1e9, unit: "GB/s"),
        ] + joblibComparison("hash-1gb", script: "hash_bench.py", "gigabyte", unit: "GB/s", ours: rate, higherIsBetter: true)
    },
    Workload(name: "hash-small-ints", summary: "hash() of 1M small integers vs joblib.hash") {
        let values = Array(0..<1_000_000)
        let seconds = try bestTime { blackHole(try hash(values)) }
        return [
            Figure(workload: "hash-small-ints", metric: "time", value: seconds * 1e3, unit: "ms"),
        ] + joblibComparison("hash-small-ints", script: "hash_bench.py", "small-ints", unit: "ms", ours: seconds * 1e3)
    },
]

