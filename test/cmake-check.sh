#!/bin/sh
# CMake consumers (README, "Linking"): install into a scratch directory,
# then build the README's example with CMake twice, through the installed
# package configuration (find_package(libfuture), libfuture::libfuture)
# and through pkg-config (pkg_check_modules(... IMPORTED_TARGET
# libfuture)), and run both. Run from a configured and built tree (.ci/run
# does).
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make install DESTDIR="$tmp/dest" > "$tmp/install.out" 2>&1 ||
  { cat "$tmp/install.out"; exit 1; }
config=$(find "$tmp/dest" -name libfutureConfig.cmake)
pcdir=$(find "$tmp/dest" -name libfuture.pc -exec dirname {} \;)
# The prefix in the staging tree: libfutureConfig.cmake is in
# <prefix>/<libdir>/cmake/libfuture, libfuture.pc in <libdir>/pkgconfig.
prefix=$tmp/dest$(sed -n 's/^prefix=//p' "$pcdir/libfuture.pc")
echo "cmake-check: $config"
mkdir "$tmp/app"
awk '/^```c$/ { f = 1; next } /^```$/ { f = 0 } f' README.md > "$tmp/app/readme.c"
# Ask for the version being installed (MAJOR.MINOR, from the header): the
# package accepts the same minor version before 1.0.
want=$(awk '/^#define FUTURE_VERSION_MAJOR /{ M = $3 }
       /^#define FUTURE_VERSION_MINOR /{ m = $3 }
       END { print M "." m }' "${top_srcdir:-.}/include/future.h")
cat > "$tmp/app/CMakeLists.txt" <<END
cmake_minimum_required(VERSION 3.13)
project(readme C)

find_package(libfuture $want REQUIRED)
add_executable(readme readme.c)
target_link_libraries(readme PRIVATE libfuture::libfuture)

find_package(PkgConfig REQUIRED)
pkg_check_modules(FUTURE REQUIRED IMPORTED_TARGET libfuture)
add_executable(readme_pc readme.c)
target_link_libraries(readme_pc PRIVATE PkgConfig::FUTURE)
END
log="$tmp/log"
# pkg-config finds the staged libfuture.pc and takes its prefix from where
# it lies (--define-prefix); the CMake package needs no such help.
PKG_CONFIG_PATH="$pcdir" cmake -S "$tmp/app" -B "$tmp/build" \
  -DCMAKE_PREFIX_PATH="$prefix" -DPKG_CONFIG_ARGN=--define-prefix \
  > "$log" 2>&1 || { cat "$log"; exit 1; }
dir=$(sed -n 's/^libfuture_DIR:PATH=//p' "$tmp/build/CMakeCache.txt")
echo "cmake-check: find_package(libfuture) found $dir"
case $dir in
  "$tmp/dest"/*) ;;
  *) echo "cmake-check: not the staged installation"; exit 1 ;;
esac
cmake --build "$tmp/build" > "$log" 2>&1 || { cat "$log"; exit 1; }
for prog in readme readme_pc; do
  out=$("$tmp/build/$prog" 2>&1)
  case "$out" in
    *"result: 0"*) echo "cmake-check: $prog builds with CMake and runs" ;;
    *) echo "cmake-check: $prog: unexpected output: $out"; exit 1 ;;
  esac
done
