#!/usr/bin/env bash
# Builds static Linux binaries of clawtalk into dist/<target>/clawtalk, with a SHA-256 file
# beside each, and says what it built and what it skipped and why.
#
#   scripts/package.sh                 # every target this machine can build
#   scripts/package.sh x86_64          # only x86_64-unknown-linux-musl
#   scripts/package.sh aarch64         # only aarch64-unknown-linux-musl
#
# Static means musl: the binary needs no libc on the host, so it runs on any Linux of its
# architecture (Alpine, Debian, a scratch container). C code (SQLite, ring) is compiled for
# musl by zig through cargo-zigbuild when that is installed (`pip install ziglang
# cargo-zigbuild`); without it, x86_64 still builds when musl-gcc is installed (Debian:
# musl-tools), and aarch64 is skipped. CARGO_TARGET_DIR is honoured (an existing build's
# dependencies are reused).
set -euo pipefail

cd "$(dirname "$0")/.."
DIST=${DIST:-dist}
WANTED=${1:-all}
# Where `pip install --user` puts cargo-zigbuild.
PATH="$PATH:$HOME/.local/bin"

built=()
skipped=()

have() { command -v "$1" >/dev/null 2>&1; }

has_rust_target() {
    rustup target list --installed 2>/dev/null | grep -qx "$1"
}

# Prints how this machine can build $1 for musl ("zigbuild", "musl-gcc") or why it cannot.
builder_for() {
    local target=$1
    if ! has_rust_target "$target"; then
        echo "skip: the Rust standard library for $target is not installed (rustup target add $target)"
    elif have cargo-zigbuild && { have zig || python3 -c 'import ziglang' 2>/dev/null; }; then
        echo zigbuild
    elif [[ $target == x86_64-* ]] && have musl-gcc && [[ $(uname -m) == x86_64 ]]; then
        echo musl-gcc
    else
        echo "skip: no C cross compiler for $target (pip install ziglang cargo-zigbuild)"
    fi
}

build() {
    local target=$1 how=$2
    case $how in
    zigbuild) cargo zigbuild --locked --release -p clawtalk --bin clawtalk --target "$target" ;;
    musl-gcc)
        CC_x86_64_unknown_linux_musl=musl-gcc \
            cargo build --locked --release -p clawtalk --bin clawtalk --target "$target"
        ;;
    esac
}

# A static executable has no program interpreter (no PT_INTERP): nothing to load at start.
is_static() {
    local info
    info=$(file -b "$1")
    [[ $info == *"statically linked"* || $info == *"static-pie linked"* ]]
}

for arch in x86_64 aarch64; do
    [[ $WANTED == all || $WANTED == "$arch" ]] || continue
    target="$arch-unknown-linux-musl"
    how=$(builder_for "$target")
    if [[ $how == skip:* ]]; then
        skipped+=("$target (${how#skip: })")
        continue
    fi
    echo "==> building $target with $how"
    if ! build "$target" "$how"; then
        skipped+=("$target (the build failed: see the output above)")
        continue
    fi
    out="$DIST/$target"
    mkdir -p "$out"
    cp "${CARGO_TARGET_DIR:-target}/$target/release/clawtalk" "$out/clawtalk"
    if ! is_static "$out/clawtalk"; then
        skipped+=("$target (the binary is not static: $(file -b "$out/clawtalk"))")
        rm -r "$out"
        continue
    fi
    (cd "$out" && sha256sum clawtalk >clawtalk.sha256)
    built+=("$target: $out/clawtalk, $(stat -c %s "$out/clawtalk") bytes, sha256 $(cut -d' ' -f1 "$out/clawtalk.sha256")")
done

echo
echo "built:"
if ((${#built[@]})); then printf '  %s\n' "${built[@]}"; else echo "  nothing"; fi
if ((${#skipped[@]})); then
    echo "skipped:"
    printf '  %s\n' "${skipped[@]}"
fi
((${#built[@]}))
