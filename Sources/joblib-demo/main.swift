import Joblib
print("cpuCount() = \(cpuCount())")
