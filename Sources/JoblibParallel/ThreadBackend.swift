/// The thread backend: `workers` threads of a ``ThreadPool`` pull batches from the job.
struct ThreadBackend: ParallelBackend {
    let pool: ThreadPool

    func start(_ job: ParallelJob, workers: Int) throws {
        try pool.submit(count: workers) { job.runWorker() }
    }

    func abandon(_ batch: ParallelBatch) { pool.abandonThread() }
}
