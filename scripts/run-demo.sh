#!/bin/bash
# The README's first command: set up the host, then run a container with berth whose root
# is the host's own tree (read-only lower layer + a private copy-on-write upper layer), with
# its own /proc, /dev, /tmp, hostname and limits. Nothing is downloaded.
#
#   scripts/run-demo.sh [COMMAND...]     (default: a greeting from inside the container)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$HOME/.cargo/bin:/usr/local/bin:$PATH"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

bash "$ROOT/scripts/setup.sh"

berth=${BERTH_BIN:-$TARGET/debug/berth}
[ -x "$berth" ] || { echo "run-demo: $berth not built" >&2; exit 1; }

if [ $# -eq 0 ]; then
    set -- sh -c 'echo "hello from $(hostname): pid $$ in its own namespaces, $(ls /proc | grep -c "^[0-9]") processes visible, memory limit $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || echo ?) bytes"; touch /etc/written-in-the-container && echo "wrote /etc/written-in-the-container (the host does not see it)"'
fi
echo "run-demo: $berth run --rm --hostname berth-demo --memory 256m --pids-limit 100 -- $*" >&2
exec "$berth" run --rm --hostname berth-demo --memory 256m --pids-limit 100 -- "$@"
