#!/bin/sh
# Line coverage of src/*.c from the gcov data left by a run of the suite in
# a tree configured with --enable-coverage (`make coverage` runs both).
# Plain gcov, no lcov or gcovr needed; GCOV may name another gcov-compatible
# tool (for clang: GCOV='llvm-cov gcov').
#   usage: test/coverage.sh   (from the build directory)
set -eu
srcdir="${top_srcdir:-.}"
GCOV="${GCOV:-gcov}"
here=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

total_lines=0
total_hit=0
printf '%-22s %8s %8s %8s\n' "file" "lines" "executed" "coverage"
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
    for d in src/.libs/libfuture_la-$base src/libfuture_la-$base; do
      if [ -f "$d.gcno" ]; then
        data=$d
        break
      fi
    done
  fi
  if [ -z "$data" ]; then
    printf '%-22s %8s %8s %8s\n' "src/$base.c" "-" "-" "no data"
    continue
  fi
  # gcov -n prints a summary per source file (headers included) without
  # writing .gcov files; keep the block of this source.
  (cd "$tmp" && $GCOV -n "$here/$data.gcda" 2>/dev/null) |
    awk -v want="$base.c" '
      /^File / { f = $2; gsub(/\047/, "", f); n = split(f, p, "/");
                 keep = (p[n] == want) }
      keep && /^Lines executed:/ {
        split($0, a, ":"); split(a[2], b, "% of ");
        print b[2], b[1]; exit }' > "$tmp/line"
  if [ ! -s "$tmp/line" ]; then
    printf '%-22s %8s %8s %8s\n' "src/$base.c" "-" "-" "no data"
    continue
  fi
  read -r lines pct < "$tmp/line"
  hit=$(awk -v l="$lines" -v p="$pct" 'BEGIN { printf "%d", l * p / 100 + 0.5 }')
  total_lines=$((total_lines + lines))
  total_hit=$((total_hit + hit))
  printf '%-22s %8d %8d %7.1f%%\n' "src/$base.c" "$lines" "$hit" "$pct"
done
if [ "$total_lines" -gt 0 ]; then
  printf '%-22s %8d %8d %7.1f%%\n' "total" "$total_lines" "$total_hit" \
    "$(awk -v h="$total_hit" -v l="$total_lines" 'BEGIN { print 100 * h / l }')"
else
  echo "coverage: no gcov data found: configure with --enable-coverage and run the suite" >&2
  exit 1
fi
