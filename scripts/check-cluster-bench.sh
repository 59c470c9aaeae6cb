#!/bin/bash
# Regression check for the cluster benchmarks (`ray-throughput`, `dask-throughput`): a short run
# must end by itself, and a run stopped by SIGTERM must end too; neither may leave a process of
# its cluster (or its directory) behind. Usage: scripts/check-cluster-bench.sh ray|dask
#
# The Ray benchmark used to "hang" after its last `.ray` call: its cluster's stop waited forever
# in Foundation's Process.waitUntilExit for a `setsid` wrapper that had forked and exited, and the
# Ray nodes were never signalled (BENCHMARKS.md, "Ray backend benchmark (issue 17)"). Both
# benchmarks now spawn and stop their clusters through BenchProcesses (own session, waitpid,
# SIGTERM then SIGKILL to the group, also on SIGINT/SIGTERM).
# Needs python3 with ray or dask[distributed] (scripts/setup.sh). About a minute after the release build.
set -euo pipefail
cd "$(dirname "$0")/.."

backend=${1:-}
case "$backend" in
    ray)
        # The cluster's directory; a line of the second node's log once the cluster is up.
        directory() { echo "/tmp/jrb-$1"; }
        started() { grep -qs "Ray runtime started" "/tmp/jrb-$1/node.log"; }
        ;;
    dask)
        directory() { echo "${TMPDIR:-/tmp}/joblib-bench-dask-$1"; }
        started() { grep -qs "Registered to:" "${TMPDIR:-/tmp}/joblib-bench-dask-$1/worker2.log"; }
        ;;
    *)
        echo "usage: $0 ray|dask" >&2
        exit 2
        ;;
esac
workload="$backend-throughput"

swift build -c release --package-path Benchmarks >/dev/null
bench=Benchmarks/.build/release/joblib-bench
failures=0

# Processes of the cluster of benchmark $1: its directory on their command line (Dask's
# scheduler file and worker directories, Ray's temporary directory), or Ray's port.
leftovers() {
    local port=$((20000 + $1 % 20000)) found="" pid pattern
    pattern="$(directory "$1")/"
    [ "$backend" = ray ] && pattern="$pattern|127\.0\.0\.1:$port|--port=$port"
    for pid in $(pgrep -f "$pattern" || true); do
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

# Every cluster process ends within a few seconds of the benchmark, and its directory goes.
check_leftovers() {
    local left
    for _ in $(seq 15); do
        left=$(leftovers "$1")
        [ -z "$left" ] && break
        sleep 1
    done
    if [ -n "$left" ]; then
        echo "FAIL ($2): processes of the benchmark's $backend cluster still run:$left"
        for pid in $left; do ps -o pid=,pgid=,args= -p "$pid" | cut -c1-160 || true; done
        failures=$((failures + 1))
    fi
    if [ -e "$(directory "$1")" ]; then
        echo "FAIL ($2): the cluster's directory $(directory "$1") is left behind"
        rm -rf "$(directory "$1")"
        failures=$((failures + 1))
    fi
}

# What a failed check left: each process, and the group of those that lead one.
kill_cluster() {
    local pid
    for pid in $(leftovers "$1"); do
        [ "$(ps -o pgid= -p "$pid" | tr -d ' ')" = "$pid" ] && kill -KILL -- "-$pid" 2>/dev/null
        kill -KILL "$pid" 2>/dev/null || true
    done
}

log=/tmp/check-$backend-bench.$$.log
echo "check-cluster-bench ($backend): a short run ends by itself"
JOBLIB_BENCH_CLUSTER_TASKS=100 JOBLIB_BENCH_ROUNDS=1 "$bench" "$workload" >"$log" 2>&1 &
run=$!
wait_for "$run" 240
if [ "$status" != 0 ]; then
    echo "FAIL (short run): exit status $status (124: still running after 240 s); its output:"
    cat "$log"
    kill -KILL "$run" 2>/dev/null || true
    failures=$((failures + 1))
fi
check_leftovers "$run" "short run"
kill_cluster "$run"

echo "check-cluster-bench ($backend): SIGTERM during the run stops the cluster and the bridge"
JOBLIB_BENCH_CLUSTER_TASKS=2000 JOBLIB_BENCH_ROUNDS=1 "$bench" "$workload" >"$log" 2>&1 &
run=$!
for _ in $(seq 120); do
    started "$run" && break
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
kill_cluster "$run"
rm -f "$log"

if [ "$failures" -gt 0 ]; then
    echo "check-cluster-bench ($backend): $failures failure(s)"
    exit 1
fi
echo "check-cluster-bench ($backend): passed"
