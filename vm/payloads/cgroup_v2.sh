# cgroup v2 checks, run as the payload of the VM guest (crates/testkit/src/vm/cgroup_suite.rs).
# Runtime-agnostic: $RUNTIME is any runc-compatible binary; bundles are /bundles/<name> sharing
# the read-only /rootfs; each container's cgroupsPath is /berth-test-<name>.
# Prints one `check <name> <what> <value>` line per check; the Rust test asserts them.
RUNTIME=${RUNTIME:-/usr/local/bin/oci-runtime}
STATE=/run/berth-test-state
mkdir -p "$STATE"

rt() { "$RUNTIME" --root "$STATE" "$@"; }

# Wait up to $2 seconds for container $1 to stop.
wait_stopped() {
    n=0
    while [ $n -lt $(($2 * 10)) ]; do
        rt state "$1" 2>/dev/null | grep -q '"stopped"' && return 0
        sleep 0.1
        n=$((n + 1))
    done
    echo "check $1 timeout waiting for stop"
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
    rt start "$id" || echo "check $name start failed"
    wait_stopped "$id" 60
    t1=$(cut -d' ' -f1 /proc/uptime)
    echo "check $name wall $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
}

end() {
    sed "s/^/inside $name: /" "/tmp/$name.out"
    rt delete -f "$id" || echo "check $name delete failed"
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
