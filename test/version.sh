#!/bin/sh
# One version everywhere. include/future.h's FUTURE_VERSION_MAJOR, _MINOR
# and _PATCH are the one source (configure.ac reads them when autoconf
# runs); this checks that everything else says the same:
#   - configure's PACKAGE_VERSION (config.h): a stale configure, generated
#     before the header changed, says otherwise: run autoreconf -fi;
#   - the library at run time: future_version_string() and future_version()
#     (test/version prints them);
#   - libfuture.pc's Version;
#   - NEWS's top entry ("## X.Y.Z (date)");
#   - the #define lines docs/reference.md quotes;
#   - the man pages built in man/ (.TH's "libfuture X.Y.Z"), when built.
set -eu
src="${top_srcdir:-.}"
build="${top_builddir:-.}"
fail=0

header=$(awk '/^#define FUTURE_VERSION_MAJOR /{ M = $3 }
  /^#define FUTURE_VERSION_MINOR /{ m = $3 }
  /^#define FUTURE_VERSION_PATCH /{ p = $3 }
  END { if (M != "" && m != "" && p != "") printf "%s.%s.%s", M, m, p }' \
  "$src/include/future.h")
if [ -z "$header" ]; then
  echo "version: no FUTURE_VERSION_MAJOR/MINOR/PATCH in $src/include/future.h"
  exit 1
fi

differs() { # what, its version, the remedy
  echo "version: $1 says '$2', include/future.h says $header${3:+ ($3)}"
  fail=1
}

v=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$build/config.h")
[ "$v" = "$header" ] ||
  differs "configure (config.h's PACKAGE_VERSION)" "$v" \
    "configure is older than the header: run autoreconf -fi and configure again"

out=$("$build/test/version")
hex=$(echo "$header" | awk -F. '{ printf "0x%06x", $1 * 65536 + $2 * 256 + $3 }')
[ "$out" = "$header $hex" ] ||
  differs "the library at run time (future_version_string, future_version)" "$out" \
    "wanted '$header $hex'"

v=$(sed -n 's/^Version: *//p' "$build/libfuture.pc")
[ "$v" = "$header" ] || differs "libfuture.pc" "$v"

v=$(sed -n 's/^## \([0-9][0-9.]*\)\( .*\)\{0,1\}$/\1/p' "$src/NEWS" | head -n 1)
[ "$v" = "$header" ] ||
  differs "NEWS's top entry" "$v" "add a \"## $header (date)\" entry at the top"

v=$(awk '/^#define FUTURE_VERSION_MAJOR /{ M = $3 }
  /^#define FUTURE_VERSION_MINOR /{ m = $3 }
  /^#define FUTURE_VERSION_PATCH /{ p = $3 }
  END { printf "%s.%s.%s", M, m, p }' "$src/docs/reference.md")
[ "$v" = "$header" ] || differs "the #define lines of docs/reference.md" "$v"

pages=0
for page in "$build"/man/*.3; do
  [ -f "$page" ] || continue
  pages=$((pages + 1))
  v=$(sed -n 's/^\.TH [^"]*"[^"]*" "libfuture \([^"]*\)".*/\1/p' "$page")
  [ "$v" = "$header" ] || differs "$page" "$v" "make it again"
done

[ "$fail" -eq 0 ] || exit 1
echo "version: $header in include/future.h, configure, the library" \
  "($hex), libfuture.pc, NEWS, docs/reference.md and $pages man pages"
