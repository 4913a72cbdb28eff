#!/bin/bash
# The release build of the two binaries, as installed and as benchmarked.
#
#   scripts/build-release.sh [runtime]  prints the paths built: berth-runtime, then berth
#                                       (`runtime`: berth-runtime only)
#
# berth-runtime is linked statically (glibc and libseccomp) as a position-independent
# executable with packed relative relocations (RELR). Why: its whole life is one container
# start, and on that path the dynamic loader, four shared libraries and 9000 relocation
# entries cost more than the work itself. Measured on this machine (`run` of /bin/true,
# bench/runtime-start.sh): peak RSS 4.7 MiB dynamic -> 3.6 MiB static-pie -> 3.3 MiB with RELR
# (2.7 MiB once regex-lite replaced regex, crates/regex-shim), CPU per run about 2 ms less.
# It stays PIE, so the runtime keeps ASLR. `berth` stays dynamic: it resolves registry names
# through glibc's NSS, which static glibc cannot load.
#
# `-C target-feature=+crt-static` must not reach proc-macros and build scripts (they are
# loaded as shared objects), so the runtime is built with an explicit --target, which keeps
# RUSTFLAGS away from host artifacts: its output is under target/<triple>/release.
# Environment: CARGO_TARGET_DIR is honoured.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$HOME/.cargo/bin:/usr/local/bin:$PATH"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
cd "$ROOT"

LIBSECCOMP_LINK_TYPE=static \
LIBSECCOMP_LIB_PATH=/usr/lib/$(gcc -print-multiarch) \
RUSTFLAGS="-C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs" \
    cargo build --release --target "$TRIPLE" -p berth-runtime >&2
[ "${1:-}" = runtime ] || cargo build --release -p berth >&2

runtime=$TARGET/$TRIPLE/release/berth-runtime
# A static binary has no interpreter; refuse a build that silently came out dynamic.
if readelf -l "$runtime" | grep -q 'Requesting program interpreter'; then
    echo "build-release: $runtime is dynamically linked (is libseccomp.a installed?)" >&2
    exit 1
fi
echo "$runtime"
[ "${1:-}" = runtime ] || echo "$TARGET/release/berth"
