# The two commands of the README: `make test` and `make demo`.
SWIFT ?= swift

.PHONY: setup test test-consumer demo bench

setup:
	@scripts/setup.sh

# The whole suite, then a tiny package that depends on this one by path (no unsafeFlags).
test: setup
	$(SWIFT) build --build-tests
	$(SWIFT) test
	$(MAKE) test-consumer

test-consumer:
	$(SWIFT) build --package-path Tests/ConsumerPackage --scratch-path .build-consumer
	.build-consumer/debug/Consumer

demo: setup
	$(SWIFT) run -c release joblib-demo

bench: setup
	$(SWIFT) run -c release --package-path Benchmarks joblib-bench
