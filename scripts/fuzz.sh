#!/usr/bin/env bash
# Runs the fuzz targets (fuzz/fuzz_targets) with libFuzzer through cargo fuzz
# on the stable toolchain (RUSTC_BOOTSTRAP=1 lets cargo fuzz use its nightly
# flags).  Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# The test suite runs each target for 20 s; a long run is e.g.
#   scripts/fuzz.sh 1800 main_cf
# New corpus entries go to fuzz/corpus-new/TARGET (not committed); the seed
# corpora in fuzz/corpus/TARGET are only read.  A crash fails the script and
# leaves its input in fuzz/artifacts/TARGET.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(main_cf master_cf master_status)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz"
    cargo install cargo-fuzz --version 0.13.2 --locked -q
fi
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus-new/$t"
    echo "fuzz.sh: $t for ${seconds}s"
    # grep hides libFuzzer's chatter; cargo fuzz's status is what counts
    # (taken before anything else runs: `|| true` would reset PIPESTATUS).
    set +e +o pipefail
    cargo fuzz run -O "$t" "fuzz/corpus-new/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -print_final_stats=1 2>&1 |
        grep -E '^(Done|stat::number_of_executed_units|==[0-9]+==|SUMMARY|.*panicked)'
    status=${PIPESTATUS[0]}
    set -e -o pipefail
    [ "$status" = 0 ] || { echo "fuzz.sh: $t found a crash" >&2; exit 1; }
done
