#!/bin/bash
# Manager benchmark (issue 4): `berth run --rm true` on the host tree and on an image
# against `podman run --rm` with crun and with runc (Debian's), peak RSS of a monitor, and
# 200 detached containers started and stopped with the host memory they cost.
#
#   bench/manager.sh [RUNS] [MANY]     (defaults 20 and 200; run as root)
#
# Builds release berth; everything lives in a temp dir /tmp/berth-test-mbench.*, removed at
# the end (podman gets a private --root/--runroot there). Prints a markdown report and
# writes bench/results/manager-<UTC date>.md. Not part of the test suite.
set -euo pipefail

RUNS=${1:-20}
MANY=${2:-200}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$HOME/.cargo/bin:/usr/local/bin:$PATH"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root" >&2; exit 1; }

(cd "$ROOT" && cargo build --release -p berth)
BERTH_BIN=$TARGET/release/berth

work=$(mktemp -d /tmp/berth-test-mbench.XXXXXX)
# berth keeps its data root below: containers in a user namespace must be able to pass.
chmod 0711 "$work"
cgparent=berth-test-mbench-$$
B=("$BERTH_BIN" --root "$work/berth" --cgroup-parent "$cgparent")
P=(podman --root "$work/podman/root" --runroot "$work/podman/run" --cgroup-manager cgroupfs
   --events-backend none --storage-driver overlay)

cleanup() {
    set +e
    for id in $("${B[@]}" ps -aq 2>/dev/null); do "${B[@]}" rm -f "$id" >/dev/null 2>&1; done
    "${B[@]}" system prune -f >/dev/null 2>&1
    if command -v podman >/dev/null; then
        "${P[@]}" rm -af >/dev/null 2>&1
        "${P[@]}" system reset -f >/dev/null 2>&1
    fi
    # Never delete through a mount.
    grep " $work" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null
    done
    rm -rf "$work"
    for c in /sys/fs/cgroup/*/"$cgparent"; do
        [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null
    done
}
trap cleanup EXIT

# A busybox root file system tarball: imported by both berth and podman.
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/busybox"
for t in sh true sleep echo cat; do ln -s busybox "$work/rootfs/bin/$t"; done
echo 'root:x:0:0:root:/:/bin/sh' > "$work/rootfs/etc/passwd"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
"${B[@]}" import "$work/rootfs.tar" bench/busybox:latest >/dev/null

now() { date +%s%N; }
# median_ms CMD...: median wall time (ms) of RUNS runs (a script, so that it also runs
# inside the mount namespace crun needs).
cat > "$work/median.sh" <<'MEDIAN'
#!/bin/bash
runs=$1; shift
xs=()
for _ in $(seq "$runs"); do
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
    xs+=($(( ($(date +%s%N) - t0) / 1000 )))
done
printf '%s\n' "${xs[@]}" | sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/1000}'
MEDIAN
chmod +x "$work/median.sh"
median_ms() { "$work/median.sh" "$RUNS" "$@"; }
# crun refuses this hybrid host unless cgroup2's controller list looks empty: run it in a
# private mount namespace where an empty file covers /sys/fs/cgroup/unified/cgroup.controllers.
: > "$work/empty"
in_crun_ns() {
    unshare -m --propagation private -- sh -c \
        'mount --bind "$0" /sys/fs/cgroup/unified/cgroup.controllers && shift && exec "$@"' \
        "$work/empty" _ "$@"
}

report=()
row() { report+=("| $1 | $2 |"); echo "$1: $2"; }

"${B[@]}" run --rm -- true   # warm caches
row "berth run --rm (host tree) true, median ms" "$(median_ms "${B[@]}" run --rm -- true)"
row "berth run --rm (busybox image) true, median ms" "$(median_ms "${B[@]}" run --rm bench/busybox true)"

if command -v podman >/dev/null; then
    "${P[@]}" import "$work/rootfs.tar" localhost/bench/busybox:latest >/dev/null
    # podman's default ulimits are above this host's hard limits: give the host's.
    PR=(run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 localhost/bench/busybox true)
    in_crun_ns "${P[@]}" --runtime /usr/bin/crun "${PR[@]}" >/dev/null
    row "podman (crun) run --rm --network none (busybox image) true, median ms" \
        "$(in_crun_ns "$work/median.sh" "$RUNS" "${P[@]}" --runtime /usr/bin/crun "${PR[@]}")"
    "${P[@]}" --runtime /usr/sbin/runc "${PR[@]}" >/dev/null
    row "podman (runc) run --rm --network none (busybox image) true, median ms" \
        "$(median_ms "${P[@]}" --runtime /usr/sbin/runc "${PR[@]}")"
else
    row "podman" "not installed (apt-get install podman)"
fi

# Peak RSS of one monitor, after it logged 10k lines.
id=$("${B[@]}" run -d -- sh -c 'for i in $(seq 10000); do echo line $i; done; sleep 1000')
sleep 2
mon=$("${B[@]}" inspect "$id" | sed -n 's/.*"monitor_pid": \([0-9]*\).*/\1/p' | head -1)
row "monitor peak RSS (VmHWM), KiB" "$(awk '/VmHWM/ {print $2}' /proc/"$mon"/status)"
row "monitor RSS now (VmRSS), KiB" "$(awk '/VmRSS/ {print $2}' /proc/"$mon"/status)"
"${B[@]}" rm -f "$id" >/dev/null

# MANY detached containers: time to start, host memory they cost, time to stop and remove.
sync; echo 1 > /proc/sys/vm/drop_caches 2>/dev/null || true
avail0=$(awk '/MemAvailable/ {print $2}' /proc/meminfo)
t0=$(now)
for i in $(seq "$MANY"); do
    "${B[@]}" run -d --name "m$i" -- sh -c 'trap "exit 0" TERM; sleep 100000 & wait' >/dev/null
done
t1=$(now)
sleep 1
avail1=$(awk '/MemAvailable/ {print $2}' /proc/meminfo)
mons=$("${B[@]}" ps --format json | sed -n 's/.*"monitor_pid": \([0-9]*\).*/\1/p')
rss=0; for p in $mons; do rss=$((rss + $(awk '/VmRSS/ {print $2}' /proc/"$p"/status))); done
row "$MANY detached: start all, s" "$(awk "BEGIN {printf \"%.1f\", ($t1-$t0)/1e9}")"
row "$MANY detached: host MemAvailable drop, MiB (per container KiB)" \
    "$(( (avail0 - avail1) / 1024 )) ($(( (avail0 - avail1) / MANY )))"
row "$MANY detached: sum of monitor RSS, MiB" "$(( rss / 1024 ))"
t0=$(now)
for i in $(seq "$MANY"); do "${B[@]}" stop -t 1 "m$i" >/dev/null; done
t1=$(now)
row "$MANY detached: stop all, s" "$(awk "BEGIN {printf \"%.1f\", ($t1-$t0)/1e9}")"
t0=$(now)
for i in $(seq "$MANY"); do "${B[@]}" rm "m$i" >/dev/null; done
t1=$(now)
row "$MANY detached: rm all, s" "$(awk "BEGIN {printf \"%.1f\", ($t1-$t0)/1e9}")"

mkdir -p "$ROOT/bench/results"
out=$ROOT/bench/results/manager-$(date -u +%Y%m%dT%H%M%SZ).md
{
    echo "# berth manager benchmark, $(date -u) on $(uname -r), $(nproc) CPUs"
    echo
    echo "| what | value |"
    echo "|---|---|"
    printf '%s\n' "${report[@]}"
} > "$out"
echo "written $out"
