# The two commands of the README: `make test` and `make demo`; `make bench` for the figures.
SWIFT ?= swift

.PHONY: setup test test-consumer release-check demo bench

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

# Every product built in release (what a user's `swift build -c release` does), failing on any
# compiler warning in our own sources; dependencies' warnings are theirs.
release-check: setup
	$(SWIFT) build -c release 2>&1 | tee .build-release-check.log
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
