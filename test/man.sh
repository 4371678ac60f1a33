#!/bin/sh
# The man pages (man/mkman.sh makes them from the headers at build time):
# 1. every public function (FUTURE_EXTERN, listed from the preprocessed
#    header as test/exports.sh lists it) and every function-like macro
#    future_*() has an entry (.SS) in a page, and is among the names that
#    make install gives a NAME.3 page of its own;
# 2. each page formats without a single warning: with man -l --warnings
#    (man-db) when man is installed, else with groff -man -ww; skipped
#    when neither is (the first check has run by then).
set -eu
src="${top_srcdir:-.}"
build="${top_builddir:-.}"
pages="libfuture libfuture-core libfuture-fs libfuture-async libfuture-dns
libfuture-signal libfuture-watch libfuture-stream"
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
# man -l itself may be unable to run where groff can (man-db sandboxes
# groff with seccomp, which some containers refuse): a man that cannot
# format even a two-line page is not used, and groff -ww checks the same
# warnings instead. What man printed is kept in this log.
man_works=no
if command -v man >/dev/null 2>&1; then
  printf '.TH T 3\n.SH NAME\nt \\- t\n' > "$tmp/probe.3"
  if LC_ALL=C MAN_DISABLE_SECCOMP=1 man -l "$tmp/probe.3" \
       > "$tmp/probe.out" 2>&1 && grep -q NAME "$tmp/probe.out"; then
    man_works=yes
  else
    echo "man: man -l cannot format a page here; groff checks instead:"
    sed 's/^/  /' "$tmp/probe.out"
  fi
fi
if [ "$man_works" = yes ]; then
  tool="man -l --warnings"
  for p in $pages; do
    LC_ALL=C MANWIDTH=80 MAN_DISABLE_SECCOMP=1 \
      man -l --warnings "$build/man/$p.3" \
      > "$tmp/out" 2> "$tmp/err" || echo "man -l failed" >> "$tmp/err"
    [ -s "$tmp/out" ] || echo "man -l printed nothing" >> "$tmp/err"
    if [ -s "$tmp/err" ]; then
      echo "man: $p.3:"
      cat "$tmp/err"
      fail=1
    fi
  done
elif command -v groff >/dev/null 2>&1; then
  tool="groff -man -ww"
  for p in $pages; do
    if ! groff -man -ww -z -Tutf8 "$build/man/$p.3" > "$tmp/err" 2>&1 ||
       [ -s "$tmp/err" ]; then
      echo "man: $p.3:"
      cat "$tmp/err"
      fail=1
    fi
  done
else
  tool=""
fi

[ "$fail" -eq 0 ] || exit 1
if [ -z "$tool" ]; then
  echo "man: $nfunc functions, each with an entry; formatting not checked:" \
    "neither man nor groff is installed (Debian: apt-get install man-db)"
  exit 77
fi
echo "man: $nfunc functions, each with an entry; $(echo $pages | wc -w)" \
  "pages format without a warning ($tool)"
