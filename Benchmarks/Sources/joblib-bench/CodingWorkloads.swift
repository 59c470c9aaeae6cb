let codingWorkloads: [Workload] = []
