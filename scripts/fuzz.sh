#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for a short, bounded time (FUZZ_SECONDS
# each, 20 by default; as many at once as there are cores) from its kept
# corpus (fuzz/corpus/TARGET), and fails if any crashes
# (after the others finish); the input that crashed is kept in
# fuzz/artifacts/TARGET/. New inputs go to fuzz/target/corpus/TARGET, so
# the kept corpus changes only when someone copies inputs there.
#
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 lets the stable
# toolchain take them. No sanitizer: the code fuzzed forbids unsafe, so
# AddressSanitizer would find nothing the build time is worth.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${FUZZ_SECONDS:-20}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# One build for every target; each run below then starts at once.
cargo fuzz build --sanitizer none

# One target a run; as many at once as there are cores (each is one
# process on one core).
fuzz_one() {
    local target="$1"
    mkdir -p "target/corpus/$target"
    local log="target/fuzz-$target.log"
    # -timeout: one input taking over 10 s is a hang, and fails the run.
    # -max_len: large enough for a real SMTP conversation or mail.
    # -rss_limit_mb: libFuzzer's bound on memory.
    if ! cargo fuzz run --sanitizer none "$target" "target/corpus/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -max_len=16384 -rss_limit_mb=2048 \
        >"$log" 2>&1; then
        tail -n 40 "$log"
        echo "fuzz target $target failed; the input is in fuzz/artifacts/$target/; reproduce with:"
        echo "  cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none $target artifacts/$target/<file>"
        return 1
    fi
    echo "== fuzz $target ran ${seconds}s: $(grep -E '^Done [0-9]+ runs' "$log")"
}

at_once=$(nproc)
pids=()
for target in $(cargo fuzz list); do
    while [ "$(jobs -rp | wc -l)" -ge "$at_once" ]; do
        sleep 1
    done
    fuzz_one "$target" &
    pids+=("$!")
done
failed=0
for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
done
[ "$failed" -eq 0 ] || exit 1
echo "fuzz: every target ran ${seconds}s without a crash"
