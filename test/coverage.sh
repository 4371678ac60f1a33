#!/bin/sh
# Line and branch coverage of src/*.c from the gcov data left by a run of
# the suite in a tree configured with --enable-coverage (`make coverage`
# runs both). Branch coverage is gcov's "taken at least once": the share
# of the branch outcomes (each side of every condition) that some test
# took. Plain gcov, no lcov or gcovr needed; GCOV may name another
# gcov-compatible tool (for clang: GCOV='llvm-cov gcov').
# COVERAGE_MIN_BRANCHES=N makes the script fail when a file's branch
# coverage is below N percent.
#   usage: test/coverage.sh   (from the build directory)
set -eu
srcdir="${top_srcdir:-.}"
GCOV="${GCOV:-gcov}"
min="${COVERAGE_MIN_BRANCHES:-0}"
here=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

total_lines=0
total_hit=0
total_br=0
total_taken=0
below=""
printf '%-22s %8s %8s %9s %9s %9s\n' "file" "lines" "executed" "lines %" \
  "branches" "taken %"
for src in "$srcdir"/src/*.c; do
  base=$(basename "$src" .c)
  # libtool builds each source twice: .libs/ (shared, what the tests run)
  # and the static object; use whichever has run-time data.
  data=""
  for d in src/.libs/libfuture_la-$base src/libfuture_la-$base; do
    if [ -f "$d.gcda" ]; then
      data=$d
      break
    fi
  done
  if [ -z "$data" ]; then
    printf '%-22s %8s\n' "src/$base.c" "no data"
    continue
  fi
  # gcov -n -b prints a summary per source file (headers included)
  # without writing .gcov files; keep the block of this source.
  (cd "$tmp" && $GCOV -n -b "$here/$data.gcda" 2>/dev/null) |
    awk -v want="$base.c" '
      /^File / { f = $2; gsub(/\047/, "", f); n = split(f, p, "/");
                 keep = (p[n] == want) }
      keep && /^Lines executed:/ {
        split($0, a, ":"); split(a[2], b, "% of "); lines = b[2]; lp = b[1] }
      keep && /^Taken at least once:/ {
        split($0, a, ":"); split(a[2], b, "% of "); br = b[2]; bp = b[1] }
      keep && /^No branches/ { br = 0; bp = 100 }
      END { if (lines != "") print lines, lp, (br == "" ? 0 : br),
                                  (bp == "" ? 100 : bp) }' > "$tmp/line"
  if [ ! -s "$tmp/line" ]; then
    printf '%-22s %8s\n' "src/$base.c" "no data"
    continue
  fi
  read -r lines pct br bpct < "$tmp/line"
  hit=$(awk -v l="$lines" -v p="$pct" 'BEGIN { printf "%d", l * p / 100 + 0.5 }')
  taken=$(awk -v l="$br" -v p="$bpct" 'BEGIN { printf "%d", l * p / 100 + 0.5 }')
  total_lines=$((total_lines + lines))
  total_hit=$((total_hit + hit))
  total_br=$((total_br + br))
  total_taken=$((total_taken + taken))
  printf '%-22s %8d %8d %8.1f%% %9d %8.1f%%\n' "src/$base.c" "$lines" "$hit" \
    "$pct" "$br" "$bpct"
  if awk -v p="$bpct" -v m="$min" 'BEGIN { exit !(p < m) }'; then
    below="$below src/$base.c"
  fi
done
if [ "$total_lines" -gt 0 ]; then
  printf '%-22s %8d %8d %8.1f%% %9d %8.1f%%\n' "total" "$total_lines" \
    "$total_hit" \
    "$(awk -v h="$total_hit" -v l="$total_lines" 'BEGIN { print 100 * h / l }')" \
    "$total_br" \
    "$(awk -v h="$total_taken" -v l="$total_br" 'BEGIN { print (l ? 100 * h / l : 100) }')"
else
  echo "coverage: no gcov data found: configure with --enable-coverage and run the suite" >&2
  exit 1
fi
if [ -n "$below" ]; then
  echo "coverage: branch coverage below ${min}% in:$below" >&2
  exit 1
fi
