#!/bin/sh
# Build without the Check framework, as a packager without it would, from
# the distributed tree in a scratch directory: pkg-config sees only
# libuv's .pc files (check.pc hidden), so configure warns and goes on;
# make and make install work; make check runs the tests that need no Check
# and then fails, saying Check is missing and how to get it. Then
# --disable-tests: make check builds and runs nothing, says so, succeeds.
# Run from a configured tree (.ci/run does).
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make distdir distdir="$tmp/src" > /dev/null
mkdir "$tmp/pc"
uvpc=$(pkg-config --variable=pcfiledir libuv)
cp "$uvpc/libuv.pc" "$tmp/pc/"
if [ -f "$uvpc/libuv-static.pc" ]; then cp "$uvpc/libuv-static.pc" "$tmp/pc/"; fi
PKG_CONFIG_LIBDIR="$tmp/pc" PKG_CONFIG_PATH=
export PKG_CONFIG_LIBDIR PKG_CONFIG_PATH
unset CHECK_CFLAGS CHECK_LIBS
if pkg-config --exists check; then
  echo "nocheck-check: pkg-config still finds check.pc"; exit 1
fi
cd "$tmp/src"

./configure > "$tmp/configure.out" 2>&1
grep 'WARNING:.*Check' "$tmp/configure.out" ||
  { echo "nocheck-check: configure did not warn that Check is missing"; exit 1; }
make -j2 > /dev/null
make install DESTDIR="$tmp/dest" > "$tmp/install.out" 2>&1 ||
  { cat "$tmp/install.out"; exit 1; }
for f in libfuture.so libfuture.a future.h libfuture.pc; do
  if [ -z "$(find "$tmp/dest" -name "$f")" ]; then
    echo "nocheck-check: make install did not install $f"; exit 1
  fi
done
echo "nocheck-check: built and installed without Check"
rc=0
make -j2 check > "$tmp/check.out" 2>&1 || rc=$?
echo "nocheck-check: make check exited $rc:"
grep -E '^(PASS|FAIL|SKIP|ERROR|XPASS|XFAIL):' "$tmp/check.out"
sed -n '/^make: the test suite needs/,/without the tests/p' "$tmp/check.out"
if [ "$rc" = 0 ] || ! grep -q 'needs the Check framework' "$tmp/check.out"; then
  echo "nocheck-check: make check without Check must fail saying so"; exit 1
fi
if ! grep -q '^PASS: test/examples.sh' "$tmp/check.out"; then
  echo "nocheck-check: the tests that need no Check did not run"; exit 1
fi

./configure --disable-tests > /dev/null
out=$(make check 2>&1)
echo "$out" | grep 'make check:'
case "$out" in
  *"no test is built or run"*) ;;
  *) echo "nocheck-check: --disable-tests: unexpected make check output"; exit 1 ;;
esac
echo "nocheck-check: ok"
