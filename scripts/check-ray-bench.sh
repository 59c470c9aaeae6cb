#!/bin/bash
# Regression check for the `ray-throughput` benchmark (issue 17): a short run must end by itself,
# and a run stopped by SIGTERM must end too; neither may leave a node of its Ray cluster running.
#
# The benchmark used to "hang" after its last `.ray` call: its cluster's stop waited forever in
# Foundation's Process.waitUntilExit for a `setsid` wrapper that had forked and exited, and the
# Ray nodes were never signalled (BENCHMARKS.md, "Ray backend benchmark (issue 17)").
# Needs python3 with ray (scripts/setup.sh). About a minute after the release build.
set -euo pipefail
cd "$(dirname "$0")/.."

swift build -c release --package-path Benchmarks >/dev/null
bench=Benchmarks/.build/release/joblib-bench
failures=0

# Processes of the cluster of benchmark $1 (and its Ray bridge): its temporary directory or its
# port on their command line.
leftovers() {
    local port=$((20000 + $1 % 20000)) found="" pid
    for pid in $(pgrep -f "jrb-$1/|127\.0\.0\.1:$port|--port=$port" || true); do
        [ "$pid" != "$$" ] && found="$found $pid"
    done
    echo "$found"
}

# Waits up to $2 seconds for process $1 to end; sets `status` to its exit status, or 124 if it
# still runs.
wait_for() {
    local waited=0
    while kill -0 "$1" 2>/dev/null; do
        if [ "$waited" -ge "$2" ]; then
            status=124
            return
        fi
        sleep 1
        waited=$((waited + 1))
    done
    status=0
    wait "$1" || status=$?
}

# Every node ends within a few seconds of the benchmark.
check_leftovers() {
    local left
    for _ in $(seq 15); do
        left=$(leftovers "$1")
        [ -z "$left" ] && return 0
        sleep 1
    done
    echo "FAIL ($2): Ray processes of the benchmark's cluster still run:$left"
    for pid in $left; do ps -o pid=,pgid=,args= -p "$pid" | cut -c1-160 || true; done
    failures=$((failures + 1))
}

# What a failed check left: each process, and the group of those that lead one (Ray nodes).
kill_cluster() {
    local pid
    for pid in $(leftovers "$1"); do
        [ "$(ps -o pgid= -p "$pid" | tr -d ' ')" = "$pid" ] && kill -KILL -- "-$pid" 2>/dev/null
        kill -KILL "$pid" 2>/dev/null || true
    done
}

echo "check-ray-bench: a short run ends by itself"
JOBLIB_BENCH_CLUSTER_TASKS=100 JOBLIB_BENCH_ROUNDS=1 "$bench" ray-throughput >/tmp/check-ray-bench.$$.log 2>&1 &
run=$!
wait_for "$run" 240
if [ "$status" != 0 ]; then
    echo "FAIL (short run): exit status $status (124: still running after 240 s); its output:"
    cat /tmp/check-ray-bench.$$.log
    kill -KILL "$run" 2>/dev/null || true
    failures=$((failures + 1))
fi
check_leftovers "$run" "short run"
if [ -e "/tmp/jrb-$run" ]; then
    echo "FAIL (short run): the cluster's directory /tmp/jrb-$run is left behind"
    rm -rf "/tmp/jrb-$run"
    failures=$((failures + 1))
fi
kill_cluster "$run"

echo "check-ray-bench: SIGTERM during the run stops the cluster and the bridge"
JOBLIB_BENCH_CLUSTER_TASKS=2000 JOBLIB_BENCH_ROUNDS=1 "$bench" ray-throughput >/tmp/check-ray-bench.$$.log 2>&1 &
run=$!
for _ in $(seq 120); do
    grep -qs "Ray runtime started" "/tmp/jrb-$run/node.log" && break
    sleep 1
done
sleep 3
kill -TERM "$run"
wait_for "$run" 60
if [ "$status" = 124 ]; then
    echo "FAIL (SIGTERM): still running 60 s after SIGTERM"
    kill -KILL "$run" 2>/dev/null || true
    failures=$((failures + 1))
fi
check_leftovers "$run" "SIGTERM"
if [ -e "/tmp/jrb-$run" ]; then
    echo "FAIL (SIGTERM): the cluster's directory /tmp/jrb-$run is left behind"
    rm -rf "/tmp/jrb-$run"
    failures=$((failures + 1))
fi
kill_cluster "$run"
rm -f /tmp/check-ray-bench.$$.log

if [ "$failures" -gt 0 ]; then
    echo "check-ray-bench: $failures failure(s)"
    exit 1
fi
echo "check-ray-bench: passed"
