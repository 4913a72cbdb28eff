#!/bin/bash
# Start-path benchmark: berth-runtime against crun and runc (Debian's), see GUIDE section 4.
#
#   bench/runtime-start.sh [RUNS] [SEQ]      (defaults 30 and 50; run as root)
#
# Builds release berth-runtime (scripts/build-release.sh: static-pie) and the measuring tool (bench/startbench), prepares one busybox
# bundle (process /bin/true, runc's default spec, no terminal), then runs every runtime's full
# `run` lifecycle RUNS times, alternating runtimes, and SEQ containers back to back. Prints
# medians with ratios against crun and writes bench/results/<UTC date>.md.
# BERTH_RUNTIME_BIN=PATH benchmarks that binary instead of building one; BERTH_BENCH_SKIP_BERTH=1
# leaves berth-runtime out (to check the harness with runc and crun only).
set -euo pipefail

RUNS=${1:-30}
SEQ=${2:-50}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$HOME/.cargo/bin:/usr/local/bin:$PATH"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

[ "$(id -u)" -eq 0 ] || { echo "bench: run as root" >&2; exit 1; }

runtimes=()
if [ "${BERTH_BENCH_SKIP_BERTH:-0}" != 1 ]; then
    if [ -n "${BERTH_RUNTIME_BIN:-}" ]; then
        berth=$BERTH_RUNTIME_BIN
    else
        berth=$(bash "$ROOT/scripts/build-release.sh" | head -n 1)
    fi
    runtimes+=(--runtime "berth=$berth")
fi
runtimes+=(--runtime crun=/usr/bin/crun --runtime runc=/usr/sbin/runc)

(cd "$ROOT/bench/startbench" && CARGO_TARGET_DIR="$TARGET/startbench" cargo build --release)
tool=$TARGET/startbench/release/berth-startbench

work=$(mktemp -d /tmp/berth-test-bench.XXXXXX)
cgroup=/berth-test-bench-$$
cleanup() {
    rm -rf "$work"
    # The runtimes delete their cgroup after every run; remove what a failed run left.
    for h in /sys/fs/cgroup/*/; do
        [ -d "$h${cgroup#/}" ] && rmdir "$h${cgroup#/}" 2>/dev/null || true
    done
}
trap cleanup EXIT

bash "$ROOT/bench/make-bundle.sh" "$work/bundle" "$cgroup" /bin/true

mkdir -p "$ROOT/bench/results"
out=$ROOT/bench/results/$(date -u +%Y-%m-%d).md
"$tool" --bundle "$work/bundle" --work "$work" --runs "$RUNS" --seq "$SEQ" \
    --out "$out" --hide-cgroup2 crun "${runtimes[@]}"
{
    echo
    echo "Machine: $(uname -sr), $(nproc) cores; command: bench/runtime-start.sh $RUNS $SEQ"
} >>"$out"
