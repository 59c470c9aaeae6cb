import Foundation
import Joblib

// Issue 17: a large argument goes through Ray's object store once per call, not once per batch.
// 40 tasks in 10 batches of 4 (fixed, so that every build sends the same batches), each summing
// its fortieth of one 50 MB [Double], on .ray (a loopback cluster: RayBenchCluster) and on
// .processes (its shared-memory arena) beside it, alternated. Each round's times also go to
// standard error as they are measured.

let rayLargeArgumentWorkloads: [Workload] = [
    Workload(name: "ray-large-argument", summary: "a 50 MB [Double] shared by 40 tasks in 10 batches on 2 local Ray actors vs .processes") {
        let values = (0..<6_250_000).map { Double($0 % 1_000) }
        let expected = values.reduce(0, +)
        let tasks = (0..<40).map { SliceSumTask(values: values, part: $0, parts: 40) }
        let processes = Parallel(jobs: 2, backend: .processes, batchSize: .fixed(4))
        _ = try processes.run([SliceSumTask(values: [1, 2], part: 0, parts: 1)])  // warm pool

        let cluster = try RayBenchCluster()
        defer { cluster.stop() }
        let ray = Parallel(jobs: 2, backend: .ray(address: cluster.address), batchSize: .fixed(4))
        let warm = SliceSumTask(values: [1, 2], part: 0, parts: 1)
        _ = try ray.run([warm, warm])  // starts the bridge and the actors
        var processTimes: [Double] = []
        var rayTimes: [Double] = []
        for round in 1...3 {
            for (name, parallel) in [("processes", processes), ("ray", ray)] {
                let seconds = try bestTime(repetitions: 1) {
                    let sum = try parallel.run(tasks).reduce(0, +)
                    guard sum == expected else { throw BenchError(".\(name): sum \(sum), expected \(expected)") }
                }
                if name == "ray" { rayTimes.append(seconds) } else { processTimes.append(seconds) }
                FileHandle.standardError.write(Data(String(format: "ray-large-argument: round %d .%@ %.3f s\n", round, name, seconds).utf8))
            }
        }
        let middle = { (times: [Double]) in times.sorted()[times.count / 2] }
        return [
            Figure(workload: "ray-large-argument", metric: "ray_median", value: middle(rayTimes), unit: "s"),
            Figure(workload: "ray-large-argument", metric: "ray_best", value: rayTimes.min()!, unit: "s"),
            Figure(workload: "ray-large-argument", metric: "processes_median", value: middle(processTimes), unit: "s"),
            Figure(workload: "ray-large-argument", metric: "processes_best", value: processTimes.min()!, unit: "s"),
        ]
    },
]
