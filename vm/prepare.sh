#!/bin/bash
# Prepare the cgroup v2 guest used by the VM tests (crates/testkit/src/vm): once per machine.
#
#   - installs qemu-system-x86 (Debian's 7.2; it replaces a newer qemu-utils) and the host tools
#     the harness uses;
#   - fetches the kernel that Debian's linux-image-amd64 depends on with `apt-get download`, and
#     unpacks it with `dpkg -x` into the cache (it is never installed on the host);
#   - extracts the uncompressed ELF kernel from the xz-compressed bzImage: qemu boots it through
#     its PVH entry point, which skips the in-guest decompression (about 4 s under TCG);
#   - runs `depmod -b` because the .deb ships no modules.dep.
#
# Result: $BERTH_VM_CACHE (default /var/cache/berth-ci/vm) holds `vmlinux`, `modules/<kver>/...`
# and `guest.env` (KVER=...). Idempotent: a second run with the same kernel package does nothing.
set -euo pipefail

CACHE=${BERTH_VM_CACHE:-/var/cache/berth-ci/vm}
export DEBIAN_FRONTEND=noninteractive
export LC_ALL=C

log() { echo "vm/prepare: $*" >&2; }

apt_updated=0
apt_install() {
    local missing=()
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! apt-get install -y --no-install-recommends "${missing[@]}"; then
        [ $apt_updated -eq 1 ] && return 1
        apt-get update && apt_updated=1
        apt-get install -y --no-install-recommends "${missing[@]}"
    fi
}

# Host tools: qemu, depmod (kmod), xz for the kernel, busybox-static for the guest userland.
apt_install qemu-system-x86 kmod xz-utils busybox-static

kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [ -z "$kpkg" ]; then
    apt-get update && apt_updated=1
    kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
[ -n "$kpkg" ] || { log "cannot resolve the kernel package of linux-image-amd64"; exit 1; }

if [ -f "$CACHE/guest.env" ] && grep -qx "KPKG=$kpkg" "$CACHE/guest.env" && [ -f "$CACHE/vmlinux" ]; then
    log "guest kernel $kpkg already prepared in $CACHE"
    exit 0
fi

log "preparing guest kernel $kpkg in $CACHE"
mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/.prepare.XXXXXX")
chmod 755 "$work" # apt-get download runs as _apt where it can
trap 'rm -rf "$work"' EXIT

(cd "$work" && apt-get download "$kpkg")
deb=$(ls "$work"/*.deb)
dpkg -x "$deb" "$work/root"

vmlinuz=$(ls "$work"/root/boot/vmlinuz-* | head -n1)
kver=${vmlinuz##*/vmlinuz-}

# extract-vmlinux: the payload of the bzImage starts at the xz stream magic FD 37 7A 58 5A 00.
# xz complains about the trailing data after the stream; the ELF check below is the real test.
found=0
for off in $(grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | cut -d: -f1); do
    tail -c +"$((off + 1))" "$vmlinuz" | xz -dc >"$work/vmlinux" 2>/dev/null || true
    if [ "$(head -c4 "$work/vmlinux" | od -An -tx1 | tr -d ' \n')" = "7f454c46" ]; then
        found=1
        break
    fi
done
[ $found -eq 1 ] || { log "no xz-compressed ELF kernel found in $vmlinuz"; exit 1; }

# Keep only the modules and the metadata depmod needs.
rm -rf "$CACHE/modules" "$CACHE/vmlinux"
mkdir -p "$CACHE/modules"
mv "$work/root/lib/modules/$kver" "$CACHE/modules/$kver"
# depmod -b expects <base>/lib/modules/<kver>: give it that layout through a symlink.
mkdir -p "$work/dm/lib"
ln -s "$CACHE/modules" "$work/dm/lib/modules"
depmod -b "$work/dm" "$kver"
[ -s "$CACHE/modules/$kver/modules.dep" ] || { log "depmod produced no modules.dep"; exit 1; }
mv "$work/vmlinux" "$CACHE/vmlinux"
printf 'KPKG=%s\nKVER=%s\n' "$kpkg" "$kver" >"$CACHE/guest.env"
log "guest kernel $kver ready: $CACHE/vmlinux"
