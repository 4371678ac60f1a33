#!/bin/sh
# Install into a scratch directory and build the README's twenty-line
# example against the installed library the way a user would: through
# pkg-config. Run from a configured and built tree (.ci/run does).
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make install DESTDIR="$tmp" >/dev/null
libdir=$(find "$tmp" -name libfuture.pc -path '*pkgconfig*' -exec dirname {} \;)
awk '/^```c$/ { f = 1; next } /^```$/ { f = 0 } f' README.md > "$tmp/readme.c"
export PKG_CONFIG_PATH="$libdir" PKG_CONFIG_SYSROOT_DIR="$tmp"
${CC:-cc} -o "$tmp/readme" "$tmp/readme.c" \
  $(pkg-config --cflags --libs libfuture)
out=$(LD_LIBRARY_PATH="$(dirname "$libdir")" "$tmp/readme" 2>&1)
case "$out" in
  *"result: 0"*) echo "install-check: the README example builds with pkg-config and runs" ;;
  *) echo "install-check: unexpected output: $out"; exit 1 ;;
esac
