#!/bin/sh
# A fully static program: install into a scratch directory, build the
# README's example with `cc -static` and libfuture-static.pc (which
# requires libuv-static where the system has it: Debian ships libuv's
# archive as libuv_a.a), run it, and check that it is static. Run from a
# configured and built tree (.ci/run does).
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make install DESTDIR="$tmp" > "$tmp/install.out" 2>&1 ||
  { cat "$tmp/install.out"; exit 1; }
pcdir=$(find "$tmp" -name libfuture-static.pc -path '*pkgconfig*' -exec dirname {} \;)
if [ -z "$pcdir" ]; then
  echo "static-check: no libfuture-static.pc installed (--disable-static?)"; exit 1
fi
awk '/^```c$/ { f = 1; next } /^```$/ { f = 0 } f' README.md > "$tmp/readme.c"
# pkg-config takes the staged prefix from where the .pc file lies.
export PKG_CONFIG_PATH="$pcdir"
flags=$(pkg-config --define-prefix --static --cflags --libs libfuture-static)
echo "static-check: cc -static readme.c $flags"
# The linker's warnings are left out: glibc's, that libuv's getaddrinfo
# and getpwuid_r would need its shared libraries at run time (the example
# calls neither).
${CC:-cc} -static -o "$tmp/readme" "$tmp/readme.c" $flags > "$tmp/ld.out" 2>&1 ||
  { cat "$tmp/ld.out"; exit 1; }
file "$tmp/readme"
case $(file "$tmp/readme") in
  *"statically linked"*) ;;
  *) echo "static-check: the program is not statically linked"; exit 1 ;;
esac
out=$("$tmp/readme" 2>&1)
case "$out" in
  *"result: 0"*) echo "static-check: the static README example runs: $(echo "$out" | tail -n 1)" ;;
  *) echo "static-check: unexpected output: $out"; exit 1 ;;
esac
