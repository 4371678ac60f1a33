#!/bin/sh
# `make fuzz`: run the libFuzzer target for FUZZ_SECONDS (default 60) over a
# copy of the seed corpus, then report what happened. Needs a tree
# configured with --enable-fuzz (CC=clang). Extra libFuzzer options go in
# FUZZ_ARGS; FUZZ_OPS_TIDY=1 looks past the known leaks (fuzz/README.md).
# Exits 1 if the fuzzer found a crash.
set -eu
srcdir="${srcdir:-.}"
seconds="${FUZZ_SECONDS:-60}"
work="${FUZZ_WORK:-fuzz-work}"
target="./fuzz/fuzz_ops"

if [ ! -x "$target" ]; then
  echo "fuzz: no $target: configure with CC=clang --enable-fuzz" >&2
  exit 1
fi
# Inputs that touch the file system make a scratch directory each under
# $TMPDIR: a memory file system makes that much cheaper.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  TMPDIR=/dev/shm
  export TMPDIR
fi
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
cp "$srcdir"/fuzz/corpus/* "$work/corpus/"
seeds=$(ls "$work/corpus" | wc -l)

echo "fuzz: $target for ${seconds}s over $seeds seeds (log: $work/fuzz.log)"
status=0
# One process, one job: the machine is shared (never more than -j2).
# shellcheck disable=SC2086
"$target" -max_total_time="$seconds" -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" ${FUZZ_ARGS:-} \
  "$work/corpus" > "$work/fuzz.log" 2>&1 || status=$?

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -n 1)
speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/fuzz.log" | tail -n 1)
cov=$(grep -o 'cov: [0-9]*' "$work/fuzz.log" | tail -n 1 | sed 's/cov: //')
ft=$(grep -o 'ft: [0-9]*' "$work/fuzz.log" | tail -n 1 | sed 's/ft: //')
now=$(ls "$work/corpus" | wc -l)
echo "fuzz: ${execs:-?} executions (${speed:-?}/s), coverage ${cov:-?} edges," \
  "${ft:-?} features, corpus $seeds -> $now inputs"

crashes=$(ls "$work/artifacts" | wc -l)
if [ "$crashes" -gt 0 ] || [ "$status" -ne 0 ]; then
  echo "fuzz: FAILED (status $status); what broke:"
  grep -E 'invariant violated|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error' \
    "$work/fuzz.log" | head -n 5
  for a in "$work"/artifacts/*; do
    [ -f "$a" ] || continue
    echo "fuzz: input $a:"
    od -An -tx1 -v "$a" | head -n 8
    echo "  replay: $target $a   (FUZZ_OPS_TRACE=1 prints the ops)"
  done
  exit 1
fi
if [ "$now" -gt "$seeds" ]; then
  echo "fuzz: to keep new inputs, merge them into the seeds:" \
    "$target -merge=1 $srcdir/fuzz/corpus $work/corpus"
fi
echo "fuzz: no crash"
