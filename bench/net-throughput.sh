#!/bin/bash
# Network throughput (issue 5): iperf3 TCP between two endpoints, four topologies measured
# in alternating rounds (the machine is shared and has 2 cores: alternating spreads the
# noise over all rows), medians printed as a markdown table.
#
#   bench/net-throughput.sh [ROUNDS] [SECONDS]     (defaults 7 and 4; run as root)
#
# Rows:
#   bare veth     two network namespaces joined by one veth pair (no bridge)
#   bare bridge   two namespaces on a plain Linux bridge berth did not configure (the host's
#                 br_netfilter with bridge-nf-call-iptables=1 applies to it, as to berth's)
#   berth         two containers on one berth network (`berth run --network N`)
#   berth capped  a container with --net-egress 10mbit --net-ingress 10mbit: its egress
#                 (it sends) and its ingress (it receives, iperf3 -R)
#
# Uses $BERTH (default: the berth in $CARGO_TARGET_DIR/debug or target/debug; the data path
# does not depend on how berth was built) with a private --root under /tmp; everything it
# creates is named berth-test-nbench-* / bthb* and removed at the end. Not part of the tests.
set -euo pipefail

ROUNDS=${1:-7}
SECS=${2:-4}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BERTH=${BERTH:-$TARGET/debug/berth}
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root" >&2; exit 1; }
[ -x "$BERTH" ] || { echo "bench: no berth binary at $BERTH (cargo build -p berth)" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "bench: needs iperf3 (Debian package iperf3)" >&2; exit 1; }

tag=$$
work=$(mktemp -d /tmp/berth-test-nbench.XXXXXX)
# berth keeps its data root below: containers in a user namespace must be able to pass.
chmod 0711 "$work"
B=("$BERTH" --root "$work/berth" --cgroup-parent "berth-test-nbench-$tag")
NS=(bthb-$tag-a bthb-$tag-b bthb-$tag-c bthb-$tag-d)
BR=bthb${tag}br
NET=berth-test-nbench-$tag
PORT=$((5300 + tag % 500))
# Both ends of every run on one CPU (the last): a run's ends never land on one CPU in one
# run and on two in the next, which on this machine varies more than the paths do.
CPU=${CPU:-$(($(nproc) - 1))}

cleanup() {
    set +e
    for id in $("${B[@]}" ps -aq 2>/dev/null); do "${B[@]}" rm -f "$id" >/dev/null 2>&1; done
    "${B[@]}" network rm "$NET" "$NET-cap" >/dev/null 2>&1
    for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null; done
    ip link del "$BR" 2>/dev/null
    grep " $work" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null
    done
    rm -rf "$work"
    # The containers' cgroups went with them; their parent is ours to remove.
    rmdir /sys/fs/cgroup/*/"berth-test-nbench-$tag" 2>/dev/null
}
trap cleanup EXIT

# Bare veth pair: a <-> b.
for n in "${NS[@]}"; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip link add bthb${tag}va netns "${NS[0]}" type veth peer name bthb${tag}vb netns "${NS[1]}"
ip -n "${NS[0]}" addr add 10.213.253.1/30 dev bthb${tag}va
ip -n "${NS[1]}" addr add 10.213.253.2/30 dev bthb${tag}vb
ip -n "${NS[0]}" link set bthb${tag}va up
ip -n "${NS[1]}" link set bthb${tag}vb up
# Bare bridge: c <-> br <-> d.
ip link add "$BR" type bridge
ip link set "$BR" up
for i in 2 3; do
    n=${NS[$i]}
    ip link add bthb${tag}h$i type veth peer name eth0 netns "$n"
    ip link set bthb${tag}h$i master "$BR" up
    ip -n "$n" addr add 10.213.252.$i/24 dev eth0
    ip -n "$n" link set eth0 up
done

# berth: one network, server + client, and a capped container on a second network.
"${B[@]}" network create --subnet 10.213.250.0/24 "$NET" >/dev/null
"${B[@]}" network create --subnet 10.213.251.0/24 "$NET-cap" >/dev/null
"${B[@]}" run -d --name srv --network "$NET" -- sleep 100000 >/dev/null
"${B[@]}" run -d --name cli --network "$NET" -- sleep 100000 >/dev/null
"${B[@]}" run -d --name csrv --network "$NET-cap" -- sleep 100000 >/dev/null
"${B[@]}" run -d --name capped --network "$NET-cap" --net-egress 10mbit --net-ingress 10mbit \
    -- sleep 100000 >/dev/null
pid() { "${B[@]}" inspect "$1" | sed -n 's/^ *"pid": \([0-9]*\).*/\1/p' | head -1; }
ip4() { "${B[@]}" network inspect "$1" | tr -d ' ",' | awk -F: -v c="$2" '
    $1=="container_id" {id=$2} $1=="ipv4" && index(id, c)==1 {print $2}'; }
id() { "${B[@]}" inspect "$1" | sed -n 's/^ *"id": "\([0-9a-f]*\)".*/\1/p' | head -1; }
SRV_IP=$(ip4 "$NET" "$(id srv)")
CSRV_IP=$(ip4 "$NET-cap" "$(id csrv)")
in_pid() { nsenter -t "$1" -n -- "${@:2}"; }
in_ns() { ip netns exec "$1" "${@:2}"; }

# One TCP run: $1 = how to enter the server's netns, $2 = the client's, $3 = address,
# rest = extra client args. Prints Mbit/s received.
run() {
    local srv=$1 cli=$2 to=$3
    shift 3
    $srv taskset -c "$CPU" iperf3 -s -1 -p "$PORT" >/dev/null 2>&1 &
    local s=$!
    sleep 0.3
    local out
    out=$($cli taskset -c "$CPU" iperf3 -J -O 1 -t "$SECS" -p "$PORT" -c "$to" "$@" 2>/dev/null || true)
    wait "$s" 2>/dev/null || true
    echo "$out" | python3 -c 'import json,sys
try: print("%.1f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e6))
except Exception: print("nan")'
}

declare -A R
ROWS=("bare veth" "bare bridge" "berth" "berth capped egress" "berth capped ingress")
for ((r = 1; r <= ROUNDS; r++)); do
    R["bare veth"]+=" $(run "in_ns ${NS[1]}" "in_ns ${NS[0]}" 10.213.253.2)"
    R["berth"]+=" $(run "in_pid $(pid srv)" "in_pid $(pid cli)" "$SRV_IP")"
    R["bare bridge"]+=" $(run "in_ns ${NS[3]}" "in_ns ${NS[2]}" 10.213.252.3)"
    if ((r <= 3)); then
        R["berth capped egress"]+=" $(run "in_pid $(pid csrv)" "in_pid $(pid capped)" "$CSRV_IP")"
        R["berth capped ingress"]+=" $(run "in_pid $(pid csrv)" "in_pid $(pid capped)" "$CSRV_IP" -R)"
    fi
    echo "round $r/$ROUNDS done" >&2
done

median() { tr ' ' '\n' | grep -v '^$' | grep -v nan | sort -g | awk '{a[NR]=$1} END {
    if (NR == 0) print "nan"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
veth=$(echo "${R["bare veth"]}" | median)
bridge=$(echo "${R["bare bridge"]}" | median)
echo
echo "kernel $(uname -r), bridge-nf-call-iptables=$(sysctl -n net.bridge.bridge-nf-call-iptables 2>/dev/null || echo absent), ${SECS}s runs, both ends on CPU $CPU, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
# Ratios of medians, and medians of the per-round ratios (each round's runs are seconds
# apart, so a round shares most of the machine's load at that time).
paired() {
    paste -d' ' <(echo "${R[$1]}" | tr ' ' '\n' | grep -v '^$') \
        <(echo "${R[$2]}" | tr ' ' '\n' | grep -v '^$') |
        awk '$1 != "nan" && $2 != "nan" && $2 > 0 {printf " %.3f", $1/$2}' | median
}
echo "| path | median Mbit/s | runs | vs bare veth | vs bare bridge | all runs |"
echo "|---|---|---|---|---|---|"
for row in "${ROWS[@]}"; do
    m=$(echo "${R[$row]}" | median)
    n=$(echo "${R[$row]}" | wc -w)
    rv=$(awk -v a="$m" -v b="$veth" 'BEGIN {printf "%.3f", a/b}')
    rb=$(awk -v a="$m" -v b="$bridge" 'BEGIN {printf "%.3f", a/b}')
    echo "| $row | $m | $n | $rv | $rb |${R[$row]} |"
done
echo
echo "median of per-round ratios: berth/bare veth $(paired berth "bare veth")," \
    "berth/bare bridge $(paired berth "bare bridge")," \
    "bare bridge/bare veth $(paired "bare bridge" "bare veth")"
