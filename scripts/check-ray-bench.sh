#!/bin/bash
# The `ray-throughput` benchmark's regression check (issue 17): scripts/check-cluster-bench.sh ray.
exec "$(dirname "$0")/check-cluster-bench.sh" ray
