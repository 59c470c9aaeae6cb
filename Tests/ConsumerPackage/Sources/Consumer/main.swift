import Joblib

// Uses the public API the way a user would; exits non-zero when something is off.
let cpus = cpuCount()
guard cpus >= 1 else { fatalError("cpuCount() returned \(cpus)") }
print("consumer: cpuCount() = \(cpus)")
