# The two commands of the README: `make test` and `make demo`; `make bench` for the figures,
# `make docs` for the documentation site.
SWIFT ?= swift

.PHONY: setup test test-consumer release-check demo bench docs docs-check fuzz tsan

setup:
	@scripts/setup.sh

# The whole suite, then a tiny package that depends on this one by path (no unsafeFlags), then
# the documentation: no DocC warning, and its pages render in a browser. Tests run one at a time:
# many wait on child processes and block a thread of Swift's cooperative pool (one per core); run
# together on a 2-core machine they starve each other past their time limits, and serial costs
# little here (about 4 minutes either way).
test: setup
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel
	$(MAKE) test-consumer
	$(MAKE) docs-check

# A user's package made of the README's Package.swift as written, built as usual and with a
# static Swift runtime (workers then enter through Joblib.workerMain()); both run worker processes.
# The static build also runs as if it forgot Joblib.workerMain(): it must get the advice at once,
# never start workers from its workers.
test-consumer:
	scripts/readme-consumer.sh .build-consumer
	scripts/readme-consumer.sh .build-consumer-static --static-swift-stdlib
	CONSUMER_SKIP_WORKER_MAIN=1 .build-consumer-static/debug/App --expect-worker-main-advice

# Every product built in release (what a user's `swift build -c release` does), failing on any
# compiler warning in our own sources; dependencies' warnings are theirs.
release-check: setup
	$(SWIFT) build -c release >.build-release-check.log 2>&1; status=$$?; cat .build-release-check.log; \
		if [ $$status -ne 0 ]; then rm -f .build-release-check.log; echo "release-check: the release build failed" >&2; exit $$status; fi
	@if grep -E "^$(CURDIR)/(Sources|Examples|Tests)/.*: warning:" .build-release-check.log; then \
		echo "release-check: compiler warnings in our sources (above)" >&2; rm -f .build-release-check.log; exit 1; fi
	@rm -f .build-release-check.log

demo: setup
	$(SWIFT) run -c release joblib-demo

# Every workload of Benchmarks/ (Python joblib beside ours where a workload runs it), then one
# table: workload, joblib, ours, ratio, target. Slow (1 GB files): minutes, not seconds.
bench:
	@scripts/setup-bench.sh
	$(SWIFT) run -c release --package-path Benchmarks joblib-bench --table

# The documentation of every module and the articles, as one static site in .build/docs-site;
# fails on any DocC warning (broken or ambiguous links, undocumented parameters).
docs:
	@scripts/docs.sh build

# `make docs`, then the landing page and a few symbol pages opened in headless Chromium.
docs-check: setup
	@scripts/docs.sh check

# The loader fuzzer for 10 minutes (make test runs it for a few seconds). JOBLIB_FUZZ_SEED replays a run.
fuzz: setup
	$(SWIFT) build --build-tests
	JOBLIB_FUZZ_SECONDS=600 $(SWIFT) test --skip-build --filter FuzzTests

# The suites whose code runs on threads of its own (the thread pool, the timeout watchdog, the
# process drivers and their pool) under ThreadSanitizer, in a build directory of its own (a
# sanitized build does not mix with the normal one); the reports are kept in .build-tsan/tsan.log.
# Reports inside `Synchronization.Mutex.withLock` are false positives: a contended Mutex hands over
# in the kernel (priority-inheritance futex), where TSan sees no synchronisation. The tests must
# pass; workers' segfaults stay signals (handle_segv=0). Skipped: two time bounds (startup under
# 1 s, a call that returns within 2 s of its timeout) and the descriptor count settling within 10 s, which
# TSan's slowdown of every process breaks.
tsan: setup
	$(SWIFT) build --build-tests --sanitize=thread --build-path .build-tsan
	TSAN_OPTIONS="handle_segv=0 exitcode=0" $(SWIFT) test --skip-build --sanitize=thread \
		--build-path .build-tsan --no-parallel --filter 'JoblibParallelTests|JoblibProcessesTests' \
		--skip 'aMisstartedWorkerNeverStartsWorkers|runReturnsSoonAfterTheTimeout|noDescriptorOutlivesThePool' >.build-tsan/tsan.log 2>&1; status=$$?; \
		grep -E '^(✘|✔ Test run)' .build-tsan/tsan.log; \
		echo "tsan: $$(grep -c 'WARNING: ThreadSanitizer' .build-tsan/tsan.log) report(s) in .build-tsan/tsan.log"; exit $$status
