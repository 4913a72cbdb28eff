# cgroup v2 checks, run as the payload of the VM guest (crates/testkit/src/vm/cgroup_suite.rs).
# Runtime-agnostic: $RUNTIME is any runc-compatible binary; bundles are /bundles/<name> sharing
# the read-only /rootfs; each container's cgroupsPath is /berth-test-<name>.
# Prints one `check <name> <what> <value>` line per check; the Rust test asserts them.
RUNTIME=${RUNTIME:-/usr/local/bin/oci-runtime}
STATE=/run/berth-test-state
mkdir -p "$STATE"

# Every runtime call is bounded: a hanging runtime fails its check instead of the whole guest.
rt() { timeout -s KILL 8 "$RUNTIME" --root "$STATE" "$@"; }

# Wait up to $2 seconds (of guest uptime) for container $1 to stop.
wait_stopped() {
    deadline=$(($(cut -d. -f1 /proc/uptime) + $2))
    while [ "$(cut -d. -f1 /proc/uptime)" -lt "$deadline" ]; do
        rt state "$1" 2>/dev/null | grep -q '"stopped"' && return 0
        sleep 0.1
    done
    echo "check $name timeout waiting for $1 to stop"
    return 1
}

# create; print the cgroup files named in $2.. from outside; start; wait; then the caller checks.
begin() {
    name=$1
    shift
    id=berth-test-$name
    cg=/sys/fs/cgroup/berth-test-$name
    if ! rt create --bundle "/bundles/$name" "$id" >"/tmp/$name.out" 2>&1; then
        echo "check $name create failed: $(cat /tmp/$name.out)"
        return 1
    fi
    for file in "$@"; do
        if [ -e "$cg/$file" ]; then
            echo "check $name $file $(cat "$cg/$file" | tr '\n' ' ')"
        else
            echo "check $name $file missing"
        fi
    done
    t0=$(cut -d' ' -f1 /proc/uptime)
    if ! rt start "$id"; then
        echo "check $name start failed"
        return 1
    fi
    wait_stopped "$id" 15
    t1=$(cut -d' ' -f1 /proc/uptime)
    echo "check $name wall $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
}

end() {
    sed "s/^/inside $name: /" "/tmp/$name.out"
    rt delete -f "$id" || echo "check $name delete failed"
    rt state "$id" >/dev/null 2>&1 && echo "check $name delete left the container"
    [ -e "$cg" ] && echo "check $name cgroup left behind"
    return 0
}

field() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }

# memory: limit applied, the hog is OOM-killed inside the container's cgroup.
begin memory memory.max
echo "check memory oom_kill $(field "$cg/memory.events" oom_kill)"
end

# pids: limit applied, the fork loop hits it.
begin pids pids.max
echo "check pids max_events $(field "$cg/pids.events" max)"
end

# cpu: quota/period and weight applied; a busy loop is throttled.
begin cpu cpu.max cpu.weight
echo "check cpu nr_throttled $(field "$cg/cpu.stat" nr_throttled)"
end

# io: weight and a write throttle on the loop device; a direct write is slowed down.
dd if=/dev/zero of=/tmp/berth-test-disk bs=1M count=8 2>/dev/null
losetup /dev/loop0 /tmp/berth-test-disk
begin io io.max io.weight io.bfq.weight
end
losetup -d /dev/loop0

# devices: /dev/kmsg exists in the container but the device program denies it.
begin devices
end

echo "check done"
