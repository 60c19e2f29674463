#!/usr/bin/env bash
# Checks a packaged binary the way a machine without Rust would run it: the binary must be
# static, and `clawtalk demo` must start from an empty root (a chroot holding only the
# binary and /tmp when run as root; otherwise with an empty environment) and answer a DM
# sent through the simulator's control API.
#
#   scripts/package-smoke.sh [dist/x86_64-unknown-linux-musl/clawtalk]
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${1:-dist/x86_64-unknown-linux-musl/clawtalk}
APP=dingdemoclawtalk01 # the demo organisation's bot (dingtalk-sim: simulator/demo.rs)
USER_ID=0312454236781234
WORDS="hello from the package smoke test"

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

[[ -x $BIN ]] || fail "$BIN is not an executable file (run scripts/package.sh first)"
info=$(file -b "$BIN")
[[ $info == *"statically linked"* || $info == *"static-pie linked"* ]] || fail "$BIN is not static: $info"
if ldd "$BIN" >/dev/null 2>&1 && ! ldd "$BIN" 2>&1 | grep -q "statically linked"; then
    fail "ldd lists shared libraries: $(ldd "$BIN")"
fi
echo "ok: static ($info)"

root=$(mktemp -d)
pid=
cleanup() {
    if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$root"
}
trap cleanup EXIT
cp "$BIN" "$root/clawtalk"
mkdir -m 1777 "$root/tmp"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"

if [[ $(id -u) == 0 ]] && command -v chroot >/dev/null; then
    how="in a chroot that holds only the binary and /tmp"
    # By its full path: env -i leaves no PATH to look chroot up in.
    env -i "$(command -v chroot)" "$root" /clawtalk demo --addr "127.0.0.1:$port" >"$root/demo.log" 2>&1 &
else
    how="with an empty environment (not root: no chroot)"
    env -i TMPDIR="$root/tmp" "$root/clawtalk" demo --addr "127.0.0.1:$port" >"$root/demo.log" 2>&1 &
fi
pid=$!

for _ in $(seq 60); do
    grep -q "demo is running" "$root/demo.log" && break
    kill -0 "$pid" 2>/dev/null || fail "the demo exited: $(cat "$root/demo.log")"
    sleep 0.5
done
grep -q "demo is running" "$root/demo.log" || fail "the demo did not start in 30 s: $(cat "$root/demo.log")"
curl -fsS -o /dev/null "$base/" || fail "the simulator's chat page at $base/ does not answer"
echo "ok: clawtalk demo started $how; its chat page answers"

curl -fsS -o /dev/null -H 'content-type: application/json' \
    -d "{\"app\":\"$APP\",\"sender\":\"$USER_ID\",\"message\":{\"type\":\"text\",\"text\":\"$WORDS\"}}" \
    "$base/_sim/inject/message" || fail "the simulator refused the DM"
# The offline model echoes: the reply arrives as a message or as an AI card.
for _ in $(seq 60); do
    if curl -fsS "$base/_sim/sent" "$base/_sim/cards" | grep -q "$WORDS"; then
        echo "ok: the bot answered the DM"
        exit 0
    fi
    sleep 0.5
done
fail "no answer to the DM in 30 s; the demo's output: $(cat "$root/demo.log")"
