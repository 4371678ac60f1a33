#!/bin/sh
# The shared library exports exactly the functions the public header marks
# FUTURE_EXTERN: nothing internal leaks out, nothing public is missing.
set -eu
lib="${top_builddir:-.}/.libs/libfuture.so"
if [ ! -f "$lib" ]; then
  echo "exports: no shared library at $lib (static-only build); skipped"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
${NM:-nm} -D --defined-only "$lib" | awk '$2 == "T" { print $3 }' |
  sort > "$tmp/exported"
# The declarations marked FUTURE_EXTERN, from the preprocessed header (so
# that comments and macros cannot confuse the listing).
${CC:-cc} -E -P $UV_CFLAGS -I"${top_srcdir:-.}/include" \
  -DFUTURE_EXTERN=__future_exported__ "${top_srcdir:-.}/include/future.h" |
  tr '\n' ' ' | tr ';' '\n' | grep '__future_exported__' |
  sed 's/(.*//' | awk '{ print $NF }' | tr -d '*' | sort > "$tmp/declared"
if ! diff -u "$tmp/declared" "$tmp/exported"; then
  echo "exports: the exported symbols differ from the header (- header, + library)"
  exit 1
fi
echo "exports: $(wc -l < "$tmp/exported") symbols, all declared FUTURE_EXTERN"
