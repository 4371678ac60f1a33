#!/bin/sh
# Embedding (README, "Embedding"): a tiny parent autotools project with
# this tree as its libfuture/ subdirectory (AC_CONFIG_SUBDIRS, configured
# with --enable-embedded) builds a program against the embedded library;
# its make check does not run libfuture's tests, its make install installs
# the program and nothing of libfuture, and the program runs. Run from a
# configured tree (.ci/run does); the subdirectory is the distributed
# tree, as a release tarball unpacked there would be.
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
p="$tmp/parent"
mkdir "$p"
make distdir distdir="$p/libfuture" > /dev/null
awk '/^```c$/ { f = 1; next } /^```$/ { f = 0 } f' README.md > "$p/hello.c"
cat > "$p/configure.ac" <<'END'
AC_INIT([parent], [1.0])
AC_CONFIG_AUX_DIR([build-aux])
AC_CONFIG_MACRO_DIR([m4])
AM_INIT_AUTOMAKE([foreign])
AC_PROG_CC
LT_INIT
PKG_CHECK_MODULES([UV], [libuv >= 1.44])
# libfuture as a convenience library: nothing of it installed, its tests off.
ac_configure_args="$ac_configure_args --enable-embedded"
AC_CONFIG_SUBDIRS([libfuture])
AC_CONFIG_FILES([Makefile])
AC_OUTPUT
END
cat > "$p/Makefile.am" <<'END'
ACLOCAL_AMFLAGS = -I m4
SUBDIRS = libfuture
bin_PROGRAMS = hello
hello_SOURCES = hello.c
hello_CPPFLAGS = -I$(top_srcdir)/libfuture/include
hello_CFLAGS = $(UV_CFLAGS)
hello_LDADD = libfuture/libfuture.la
END
mkdir "$p/m4"
cd "$p"
log="$tmp/log"
run() { "$@" > "$log" 2>&1 || { cat "$log"; echo "embed-check: $* failed"; exit 1; }; }
run autoreconf -fi
run ./configure
run make -j2
run make check
grep "libfuture's tests are off" "$log"
if [ -e libfuture/test-suite.log ] || grep -q '^PASS:' "$log"; then
  echo "embed-check: the parent's make check ran libfuture's tests"; exit 1
fi
run make install DESTDIR="$tmp/dest"
installed=$(cd "$tmp/dest" && find . ! -type d)
echo "embed-check: make install installed: $installed"
if [ "$installed" != ./usr/local/bin/hello ]; then
  echo "embed-check: make install should install the program alone"; exit 1
fi
out=$("$tmp/dest"/usr/local/bin/hello 2>&1)
case "$out" in
  *"result: 0"*) echo "embed-check: the parent's program runs: $(echo "$out" | tail -n 1)" ;;
  *) echo "embed-check: unexpected output: $out"; exit 1 ;;
esac
