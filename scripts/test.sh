#!/bin/bash
# Set up the host (scripts/setup.sh), run every test of the workspace, print a plain summary.
# Exits non-zero when any test fails or no test ran. Extra arguments go to cargo nextest
# (e.g. `scripts/test.sh -p berth-testkit`; default --workspace).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$HOME/.cargo/bin:/usr/local/bin:$PATH"
cd "$ROOT"

bash scripts/setup.sh

log=$(mktemp /tmp/berth-test-log.XXXXXX)
trap 'rm -f "$log"' EXIT
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--workspace)

# Sum the counts "<N> <word>" found in stdin, e.g. `count passed`.
count() { { grep -oE "[0-9]+ ($1)" || true; } | awk '{ s += $1 } END { print s + 0 }'; }

status=0
if cargo nextest --version >/dev/null 2>&1; then
    # Two passes: everything that may share the machine, in parallel; then the tests that
    # measure time or throughput (`serial_*`) and the qemu guests (software emulation starved
    # of CPU stalls the guest kernel), one at a time with nothing else running.
    alone='test(/serial_/) | binary(/vm/)'
    cargo nextest run --no-fail-fast "${args[@]}" -E "not ($alone)" 2>&1 | tee "$log" || status=$?
    cargo nextest run --no-fail-fast "${args[@]}" -E "$alone" --test-threads 1 2>&1 | tee -a "$log" || status=$?
    if [ $# -eq 0 ]; then
        # The runtime as installed and benchmarked is the static release build
        # (scripts/build-release.sh); its lifecycle, error and escape tests run again on it.
        runtime=$(bash scripts/build-release.sh runtime)
        BERTH_RUNTIME_BIN=$runtime cargo nextest run --no-fail-fast -p berth-runtime \
            --test lifecycle --test errors --test escape -E "not ($alone)" 2>&1 | tee -a "$log" || status=$?
    fi
    summaries=$({ grep -E '^ *Summary \[' "$log" || true; })
    passed=$(count passed <<<"$summaries")
    failed=$(count 'failed|timed out' <<<"$summaries")
else
    echo "test: cargo-nextest missing, falling back to cargo test (serial)"
    cargo test --no-fail-fast "${args[@]}" -- --test-threads=1 2>&1 | tee "$log" || status=$?
    results=$(grep -E '^test result: ' "$log" || true)
    passed=$(count passed <<<"$results")
    failed=$(count failed <<<"$results")
fi
passed=${passed:-0}
failed=${failed:-0}

echo
echo "summary: $passed passed, $failed failed"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then
    echo "berth tests: FAILED (exit $status)"
    exit 1
fi
if [ "$passed" -eq 0 ]; then
    echo "berth tests: no test ran"
    exit 1
fi
