#!/bin/sh
# The shared library exports exactly the functions the public header marks
# FUTURE_EXTERN: nothing internal leaks out, nothing public is missing.
set -eu
lib="${top_builddir:-.}/.libs/libfuture.so"
headers="${top_srcdir:-.}/include/future.h ${top_srcdir:-.}/include/future/*.h"
if [ ! -f "$lib" ]; then
  echo "exports: no shared library at $lib (static-only build); skipped"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
${NM:-nm} -D --defined-only "$lib" | awk '$2 == "T" { print $3 }' |
  sort > "$tmp/exported"
# Join each declaration onto one line, then take the name before "(".
cat $headers | tr '\n' ' ' | sed 's/;/;\n/g' | grep 'FUTURE_EXTERN' |
  grep -v '#define' | sed 's/(.*//' | awk '{ print $NF }' | tr -d '*' |
  sort > "$tmp/declared"
if ! diff -u "$tmp/declared" "$tmp/exported"; then
  echo "exports: the exported symbols differ from the header (- header, + library)"
  exit 1
fi
echo "exports: $(wc -l < "$tmp/exported") symbols, all declared FUTURE_EXTERN"
