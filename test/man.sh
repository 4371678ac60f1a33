#!/bin/sh
# The man pages (man/mkman.sh makes them from the headers at build time):
# 1. every public function (FUTURE_EXTERN, listed from the preprocessed
#    header as test/exports.sh lists it) and every function-like macro
#    future_*() has an entry (.SS) in a page, and is among the names that
#    make install gives a NAME.3 page of its own;
# 2. each page formats without a single warning (groff -man -ww) and
#    renders its NAME section; skipped when groff is missing (the first
#    check has run by then).
set -eu
src="${top_srcdir:-.}"
build="${top_builddir:-.}"
pages="libfuture libfuture-core libfuture-fs libfuture-async libfuture-dns
libfuture-signal libfuture-watch libfuture-process libfuture-udp libfuture-stream"
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for p in $pages; do
  if [ ! -f "$build/man/$p.3" ]; then
    echo "man: $build/man/$p.3 is missing (make makes it)"
    exit 1
  fi
done

${CC:-cc} -E -P ${UV_CFLAGS:-} -I"$src/include" \
  -DFUTURE_EXTERN=__future_exported__ "$src/include/future.h" |
  tr '\n' ' ' | tr ';' '\n' | grep '__future_exported__' |
  sed 's/(.*//' | awk '{ print $NF }' | tr -d '*' > "$tmp/functions"
cat "$src/include/future.h" "$src/include/future/fs.h" \
  "$src/include/future/async.h" "$src/include/future/dns.h" \
  "$src/include/future/signal.h" "$src/include/future/watch.h" \
  "$src/include/future/process.h" "$src/include/future/udp.h" \
  "$src/include/future/stream.h" |
  sed -n 's/^#[[:space:]]*define[[:space:]]\{1,\}\(future_[a-z0-9_]*\)(.*/\1/p' \
  >> "$tmp/functions"
sort -u "$tmp/functions" -o "$tmp/functions"

for p in $pages; do
  sed -n 's/^\.SS "\(.*\)"$/\1/p' "$build/man/$p.3"
done | tr ',' '\n' | tr -d ' ' | sort -u > "$tmp/entries"
comm -23 "$tmp/functions" "$tmp/entries" > "$tmp/missing"
if [ -s "$tmp/missing" ]; then
  echo "man: public functions without an entry in a man page:"
  sed 's/^/  /' "$tmp/missing"
  fail=1
fi

sh "$src/man/mkman.sh" "$src" --names | cut -d ' ' -f 1 | sort \
  > "$tmp/names"
if ! diff -u "$tmp/functions" "$tmp/names" > "$tmp/diff"; then
  echo "man: the pages make install names differ from the functions" \
    "(- functions, + mkman.sh --names):"
  cat "$tmp/diff"
  fail=1
fi

for p in $pages; do
  if grep -n '@[A-Z]*@' "$build/man/$p.3"; then
    echo "man: $p.3 has a placeholder left"
    fail=1
  fi
done

nfunc=$(wc -l < "$tmp/functions")
# Formatting: groff itself, with every warning on (-ww, stricter than
# man --warnings, which turns on only the macro warnings), tables (-t) and
# the input encoding (-k) as man would run them. groff rather than man -l:
# man-db sandboxes its formatters and looks at its configuration and
# caches, so its exit depends on the machine; groff's does not.
if command -v groff >/dev/null 2>&1; then
  tool="groff -man -t -k -ww"
  for p in $pages; do
    if ! LC_ALL=C groff -man -t -k -ww -z -Tutf8 "$build/man/$p.3" \
           > "$tmp/err" 2>&1 || [ -s "$tmp/err" ]; then
      echo "man: $p.3:"
      cat "$tmp/err"
      fail=1
    fi
    # Installed under a long prefix (make distcheck installs under its
    # build directory) a page must still format: paths may break at slashes.
    long=/home/somebody/src/libfuture_0.0.0/_build/sub/_inst/share/doc/libfuture
    DOCDIR=$long sh "$src/man/mkman.sh" "$src" "$p" > "$tmp/long.3"
    if ! LC_ALL=C groff -man -t -k -ww -z -Tutf8 "$tmp/long.3" \
           > "$tmp/err" 2>&1 || [ -s "$tmp/err" ]; then
      echo "man: $p.3, made with docdir $long:"
      cat "$tmp/err"
      fail=1
    fi
    # And it renders: the NAME section and the page's name come out.
    LC_ALL=C MANWIDTH=80 groff -man -t -k -Tutf8 -P-cbou "$build/man/$p.3" \
      2>/dev/null > "$tmp/out" || true
    if ! grep -q "^NAME" "$tmp/out" || ! grep -q "$p" "$tmp/out"; then
      echo "man: $p.3 does not render a NAME section naming $p"
      fail=1
    fi
  done
else
  tool=""
fi

[ "$fail" -eq 0 ] || exit 1
if [ -z "$tool" ]; then
  echo "man: $nfunc functions, each with an entry; formatting not checked:" \
    "neither man nor groff is installed (Debian: apt-get install groff-base)"
  exit 77
fi
echo "man: $nfunc functions, each with an entry; $(echo $pages | wc -w)" \
  "pages format without a warning ($tool)"
