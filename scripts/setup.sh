#!/bin/bash
# Host set-up for berth, idempotent, as root on a fresh Debian 12:
#   1. install every package named in scripts/packages/*.list that is missing (never upgrades
#      what is installed; refuses a change of the host's libc);
#   2. check the Rust toolchain and build the workspace (debug; BERTH_SETUP_RELEASE=1 adds
#      the release binaries of scripts/build-release.sh);
#   3. prepare the cgroup v2 guest kernel once per machine (vm/prepare.sh).
# Environment: BERTH_SETUP_SKIP_BUILD=1 skips step 2; CARGO_TARGET_DIR is honoured.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export DEBIAN_FRONTEND=noninteractive
export PATH="$HOME/.cargo/bin:/usr/local/bin:$PATH"

log() { echo "setup: $*" >&2; }

[ "$(id -u)" -eq 0 ] || { log "run as root (it installs packages)"; exit 1; }

# --- 1. Debian packages -----------------------------------------------------------------------
wanted=()
for list in "$ROOT"/scripts/packages/*.list; do
    [ -e "$list" ] || continue
    while read -r line; do
        line=${line%%#*}
        for pkg in $line; do wanted+=("$pkg"); done
    done <"$list"
done

missing=()
for pkg in $(printf '%s\n' "${wanted[@]}" | sort -u); do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done

install_missing() {
    # Simulate first: a package that would change the host's C library is refused, never
    # installed (its upgrade would change every binary on the machine).
    local sim
    sim=$(apt-get -s install -y --no-install-recommends --no-upgrade "${missing[@]}" 2>&1) || return 1
    if grep -qE '^Inst (libc6|libc-bin) \[' <<<"$sim"; then
        log "refusing: installing ${missing[*]} would upgrade the host's libc"
        exit 1
    fi
    apt-get install -y --no-install-recommends --no-upgrade "${missing[@]}"
}

if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    if ! install_missing; then
        log "package lists look stale: apt-get update"
        apt-get update
        install_missing
    fi
else
    log "all ${#wanted[@]} listed packages are installed"
fi

# --- 2. Rust build ------------------------------------------------------------------------------
command -v cargo >/dev/null || { log "cargo not found (expected in ~/.cargo/bin or PATH)"; exit 1; }
if [ "${BERTH_SETUP_SKIP_BUILD:-0}" != 1 ]; then
    log "cargo build --workspace"
    (cd "$ROOT" && cargo build --workspace)
    if [ "${BERTH_SETUP_RELEASE:-0}" = 1 ]; then
        log "release build (scripts/build-release.sh)"
        bash "$ROOT/scripts/build-release.sh" >/dev/null
    fi
fi

# --- 3. cgroup v2 guest -------------------------------------------------------------------------
bash "$ROOT/vm/prepare.sh"
log "done"
