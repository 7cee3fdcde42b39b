#!/usr/bin/env bash
# Runs every docaxis fuzz target for N seconds each (default 20), for CI.
# Needs cargo-fuzz (`cargo install cargo-fuzz`); on a stable toolchain the
# nightly-only flags cargo-fuzz passes are unlocked with RUSTC_BOOTSTRAP=1.
# Fails (non-zero) on the first crash; the reproducer is in fuzz/artifacts/.
#
#   fuzz/run-ci.sh            # 20 s per target
#   fuzz/run-ci.sh 600 parse  # 10 min, parse only
#
# FUZZ_SANITIZER picks cargo-fuzz's sanitizer (default: address). The test
# command (tests/run.sh) sets it to `none`: docaxis has no `unsafe`, so a
# short run gains little from AddressSanitizer, and the uninstrumented build
# is quicker to build and runs more inputs per second. Long runs keep the
# default.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-20}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(parse c14n c14n_stream verify verify_mutate roundtrip)
fi

export RUSTC_BOOTSTRAP="${RUSTC_BOOTSTRAP:-1}"
sanitizer="${FUZZ_SANITIZER:-address}"
cargo fuzz build -O -s "$sanitizer"
mkdir -p fuzz/target/logs

for t in "${targets[@]}"; do
    # New inputs go to a scratch corpus under fuzz/target (ignored by git);
    # the committed seeds in fuzz/corpus/<target> are only read.
    work="fuzz/target/corpus/$t"
    mkdir -p "$work"
    # c14n_stream reads the same kind of input as c14n: share its seeds.
    seeds="fuzz/corpus/$t"
    if [ "$t" = c14n_stream ]; then
        seeds=fuzz/corpus/c14n
    fi
    extra=()
    if [ "$t" = verify_mutate ]; then
        extra=(-max_len=512)
    fi
    log="fuzz/target/logs/$t.log"
    echo "== fuzz $t for ${secs}s, sanitizer $sanitizer (full log: $log)"
    status=0
    cargo fuzz run -O -s "$sanitizer" "$t" "$work" "$seeds" -- \
        -dict=fuzz/dict/xml.dict -max_total_time="$secs" -print_final_stats=1 \
        "${extra[@]}" >"$log" 2>&1 || status=$?
    grep -E '^(stat::|Done)|panicked|ERROR|SUMMARY|Test unit written' "$log" || true
    if [ "$status" -ne 0 ]; then
        echo "fuzz target $t FAILED; reproducer in fuzz/artifacts/$t/" >&2
        exit 1
    fi
done
echo "all fuzz targets ran ${secs}s without a crash"
