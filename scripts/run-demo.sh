#!/bin/bash
# The README's first command: set up the host, then run a busybox container with berth-runtime.
#
#   scripts/run-demo.sh [COMMAND...]     (default: a greeting from inside the container)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$HOME/.cargo/bin:/usr/local/bin:$PATH"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

bash "$ROOT/scripts/setup.sh"

runtime=${BERTH_RUNTIME_BIN:-$TARGET/debug/berth-runtime}
[ -x "$runtime" ] || { echo "run-demo: $runtime not built" >&2; exit 1; }

work=$(mktemp -d /tmp/berth-demo.XXXXXX)
id=berth-demo-$$
cleanup() {
    "$runtime" --root "$work/state" delete -f "$id" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

if [ $# -eq 0 ]; then
    set -- sh -c 'echo "hello from $(hostname), pid $$ in its own namespace; /proc has $(ls /proc | grep -c "^[0-9]") processes"'
fi
bash "$ROOT/bench/make-bundle.sh" "$work/bundle" "/$id" "$@"
sed -i 's/"hostname": "runc"/"hostname": "berth-demo"/' "$work/bundle/config.json"
echo "run-demo: $runtime run --bundle $work/bundle $id" >&2
"$runtime" --root "$work/state" run --bundle "$work/bundle" "$id"
