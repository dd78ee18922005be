#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for a short, bounded time (FUZZ_SECONDS
# each, 20 by default) from its kept corpus (fuzz/corpus/TARGET), and fails
# on the first crash; the input that crashed is kept in
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

for target in $(cargo fuzz list); do
    echo "== fuzz $target for ${seconds}s"
    mkdir -p "target/corpus/$target"
    log="target/fuzz-$target.log"
    # -timeout: one input taking over 10 s is a hang, and fails the run.
    # -max_len: large enough for a real SMTP conversation or mail.
    # -rss_limit_mb: libFuzzer's bound on memory.
    if ! cargo fuzz run --sanitizer none "$target" "target/corpus/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -max_len=16384 -rss_limit_mb=2048 \
        >"$log" 2>&1; then
        tail -n 40 "$log"
        echo "fuzz target $target failed; the input is in fuzz/artifacts/$target/; reproduce with:"
        echo "  cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none $target artifacts/$target/<file>"
        exit 1
    fi
    grep -E '^Done [0-9]+ runs' "$log"
done
echo "fuzz: every target ran ${seconds}s without a crash"
