#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time, one after the other, and prints
# a summary (executions, coverage, corpus size, crashes). Not part of CI's test run.
#
#   scripts/fuzz.sh [seconds-per-target] [target...]     (default: 60 s, every target)
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). The corpus grows in
# fuzz/corpus/<target> (seeded from fuzz/seeds and crates/dingtalk/fixtures); a crash is
# saved under fuzz/artifacts/<target>/ and makes the script exit 1. Reproduce one with
#   cargo +nightly fuzz run <target> fuzz/artifacts/<target>/crash-…
# then add the input as a unit test next to the code it broke.
#
# Environment: FUZZ_SANITIZER (default address; `none` builds and runs faster),
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"

seconds="${1:-60}"
shift || true
all_targets=(stream_frame bot_payload callback_sign event_crypto config)
targets=("${@:-${all_targets[@]}}")
sanitizer="${FUZZ_SANITIZER:-address}"
rss_mb="${FUZZ_RSS_MB:-2048}"
fixtures="$root/crates/dingtalk/fixtures"

# Seeds: the committed ones plus the protocol fixtures each target reads.
seed() {
    local target="$1" dir="corpus/$1"
    mkdir -p "$dir" "artifacts/$target"
    if [ -d "seeds/$target" ]; then cp -n seeds/"$target"/* "$dir"/; fi
    case "$target" in
        stream_frame) cp -n "$fixtures"/stream-frame-*.json "$dir"/ ;;
        bot_payload) cp -n "$fixtures"/bot-*.json "$dir"/ ;;
    esac
}

# Every target at once (they share all dependencies); `run` below then finds them built.
echo "== building the fuzz targets (sanitizer: $sanitizer)"
if ! nice cargo +nightly fuzz build --sanitizer "$sanitizer" --codegen-units 16 >build.log 2>&1; then
    tail -n 30 build.log
    echo "build failed (full log: fuzz/build.log)"
    exit 2
fi

summary=()
failed=0
for target in "${targets[@]}"; do
    seed "$target"
    log="artifacts/$target/last-run.log"
    echo "== $target: ${seconds}s"
    set +e
    nice cargo +nightly fuzz run --sanitizer "$sanitizer" --codegen-units 16 "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="artifacts/$target/" >"$log" 2>&1
    status=$?
    set -e
    stat() { grep -o "^stat::$1: *[0-9]*" "$log" | tail -n 1 | grep -o '[0-9]*$' || echo "?"; }
    runs="$(stat number_of_executed_units)"
    per_sec="$(stat average_exec_per_sec)"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*' || echo "?")"
    corpus="$(find "corpus/$target" -type f | wc -l)"
    if [ "$status" -eq 0 ]; then
        verdict="ok"
    else
        verdict="CRASH (exit $status): $(ls -t "artifacts/$target" | grep -v last-run.log | head -n 1)"
        failed=1
        grep -m 5 -E "panicked|ERROR: libFuzzer|SUMMARY" "$log" || true
    fi
    summary+=("$(printf '%-14s %8ss %12s runs %8s/s  cov %-6s corpus %-6s %s' \
        "$target" "$seconds" "$runs" "$per_sec" "$cov" "$corpus" "$verdict")")
done

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
