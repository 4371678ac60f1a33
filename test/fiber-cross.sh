#!/bin/sh
# The AArch64 switch of src/fiber.c, checked on this machine: when an
# AArch64 cross compiler and qemu are installed (Debian: gcc-aarch64-linux-gnu
# qemu-user), build test/fiber_switch.c with src/fiber.c for AArch64 and run
# it under qemu; skipped otherwise. The native switch is tested by the async
# suite of test/check_future.
set -eu
cc=${AARCH64_CC:-aarch64-linux-gnu-gcc}
qemu=${QEMU_AARCH64:-qemu-aarch64}
if ! command -v "$cc" >/dev/null 2>&1 || ! command -v "$qemu" >/dev/null 2>&1
then
  echo "fiber-cross: no $cc or $qemu; skipped"
  exit 77
fi
src=${top_srcdir:-.}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# uv.h and config.h come from this build: libuv's headers are the same on
# every Linux architecture, and the switch uses neither libuv nor libc
# beyond mmap.
"$cc" -O2 -static -DHAVE_CONFIG_H -I"${top_builddir:-.}" -I"$src/src" \
  -I"$src/include" -idirafter /usr/include "$src/test/fiber_switch.c" \
  "$src/src/fiber.c" -o "$tmp/fiber_switch"
"$qemu" "$tmp/fiber_switch"
