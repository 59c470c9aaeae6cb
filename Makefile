# The two commands of the README: `make test` and `make demo`; `make bench` for the figures.
SWIFT ?= swift

.PHONY: setup test test-consumer demo bench fuzz

setup:
	@scripts/setup.sh

# The whole suite, then a tiny package that depends on this one by path (no unsafeFlags).
test: setup
	$(SWIFT) build --build-tests
	$(SWIFT) test
	$(MAKE) test-consumer

# A user's package, built as usual and with a static Swift runtime (workers then enter through
# Joblib.workerMain()); both run worker processes.
test-consumer:
	$(SWIFT) build --package-path Tests/ConsumerPackage --scratch-path .build-consumer
	.build-consumer/debug/Consumer
	$(SWIFT) build --package-path Tests/ConsumerPackage --scratch-path .build-consumer-static --static-swift-stdlib
	.build-consumer-static/debug/Consumer

demo: setup
	$(SWIFT) run -c release joblib-demo

# Every workload of Benchmarks/ (Python joblib beside ours where a workload runs it), then one
# table: workload, joblib, ours, ratio, target. Slow (1 GB files): minutes, not seconds.
bench: setup
	$(SWIFT) run -c release --package-path Benchmarks joblib-bench --table

# The loader fuzzer for 10 minutes (make test runs it for a few seconds). JOBLIB_FUZZ_SEED replays a run.
fuzz: setup
	$(SWIFT) build --build-tests
	JOBLIB_FUZZ_SECONDS=600 $(SWIFT) test --skip-build --filter FuzzTests
