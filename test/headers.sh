#!/bin/sh
# The public headers compile with every warning an error in the dialects
# a user may choose: ISO C99 and C11 with POSIX.1-2008 asked for
# (-D_POSIX_C_SOURCE=200809L), GNU C99 and C11, and C++ when a C++
# compiler is there. Plain ISO mode (-std=c99, -std=c11, no feature
# macro) fails, in libuv's own <uv.h>, which needs POSIX types such as
# pthread_rwlock_t that ISO mode hides: this test shows the failure is
# libuv's (<uv.h> alone fails, and no error is in our headers).
set -eu
inc="${top_srcdir:-.}/include"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/all.c" <<'END'
#include <future.h>
#include <future/fs.h>
#include <future/async.h>
int main(void) { return 0; }
END
printf '#include <uv.h>\nint main(void) { return 0; }\n' > "$tmp/uv.c"
cc=${CC:-cc}
warn="-Wall -Wextra -Wpedantic -Werror"
fail=0

compiles() { # compiler, file, flags...
  c=$1 f=$2
  shift 2
  # shellcheck disable=SC2086 # UV_CFLAGS is a list of flags
  $c "$@" $warn ${UV_CFLAGS:-} -I"$inc" -fsyntax-only "$f" > "$tmp/out" 2>&1
}

for flags in "-std=c99 -D_POSIX_C_SOURCE=200809L" \
    "-std=c11 -D_POSIX_C_SOURCE=200809L" "-std=gnu99" "-std=gnu11"; do
  # shellcheck disable=SC2086
  if compiles "$cc" "$tmp/all.c" $flags; then
    echo "headers: ok: $cc $flags $warn"
  else
    echo "headers: FAILED: $cc $flags $warn:"
    cat "$tmp/out"
    fail=1
  fi
done

# Plain ISO C: ours must not be the header that fails.
for std in c99 c11; do
  if compiles "$cc" "$tmp/uv.c" -std=$std; then
    if compiles "$cc" "$tmp/all.c" -std=$std; then
      echo "headers: ok: $cc -std=$std $warn (this libuv's <uv.h> allows it)"
    else
      echo "headers: FAILED: $cc -std=$std $warn, which <uv.h> alone passes:"
      cat "$tmp/out"
      fail=1
    fi
    continue
  fi
  compiles "$cc" "$tmp/all.c" -std=$std || true
  ours=$(grep -E ':[0-9]+(:[0-9]+)?: (error|warning):' "$tmp/out" |
    grep -F "$inc/" || true)
  if [ -n "$ours" ]; then
    echo "headers: FAILED: under -std=$std our headers have errors of their own:"
    cat "$tmp/out"
    fail=1
  else
    first=$(grep -E ': error:' "$tmp/out" | head -n 1)
    echo "headers: as expected, -std=$std without _POSIX_C_SOURCE fails in libuv's header, not ours: $first"
  fi
done

cxx=${CXX:-}
if [ -z "$cxx" ]; then
  for c in c++ g++ clang++; do
    if command -v "$c" > /dev/null 2>&1; then cxx=$c; break; fi
  done
fi
if [ -z "$cxx" ]; then
  echo "headers: no C++ compiler (CXX, c++, g++ or clang++): C++ not tried"
else
  for std in c++11 c++17; do
    if compiles "$cxx" "$tmp/all.c" -x c++ -std=$std; then
      echo "headers: ok: $cxx -x c++ -std=$std $warn"
    else
      echo "headers: FAILED: $cxx -x c++ -std=$std $warn:"
      cat "$tmp/out"
      fail=1
    fi
  done
fi
exit $fail
