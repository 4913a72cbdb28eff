#!/bin/bash
# make-bundle.sh DIR CGROUPS_PATH ARG...: an OCI bundle in DIR with a busybox rootfs (Debian's
# busybox-static, one symlink per applet) and runc's default spec (`runc spec` of runc 1.1.5,
# as crates/testkit/src/runc_spec.json), with terminal off, the given process arguments and
# cgroupsPath. Used by bench/runtime-start.sh and scripts/run-demo.sh.
set -euo pipefail

dir=$1
cgroups_path=$2
shift 2
[ $# -gt 0 ] || { echo "usage: $0 DIR CGROUPS_PATH ARG..." >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
busybox=${BERTH_BUSYBOX:-/bin/busybox}

mkdir -p "$dir/rootfs"/{bin,etc,proc,sys,dev,tmp,root}
cp "$busybox" "$dir/rootfs/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$dir/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$dir/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/rootfs/etc/group"

# JSON array of the arguments (escape backslashes and quotes).
args=""
for a in "$@"; do
    a=${a//\\/\\\\}
    a=${a//\"/\\\"}
    args="$args${args:+, }\"$a\""
done

# runc's default spec: replace terminal and args, add cgroupsPath after the "linux": { line.
sed -e 's/"terminal": true/"terminal": false/' \
    -e "/\"args\": \[/,/\]/c\\		\"args\": [ $(printf '%s' "$args" | sed 's/[\/&]/\\&/g') ]," \
    -e "s|\"linux\": {|\"linux\": {\n\t\t\"cgroupsPath\": \"$cgroups_path\",|" \
    "$here/../crates/testkit/src/runc_spec.json" >"$dir/config.json"
