#!/bin/sh
# The documentation's programs compile, run and print what the text says.
#
# 1. Every ```c block of README.md and docs/*.md that defines main() is a
#    complete program (with the block just before it when it has no
#    #include of its own: "the two blocks together make a complete
#    program"). It is compiled against the library of this build, with
#    -Wall -Wextra -Werror, and run in a scratch directory that holds two
#    small files, a.txt and b.txt (passed as arguments: the programs of
#    docs/from-libuv.md take two files; the others ignore them). It must
#    exit 0 within 20 seconds.
# 2. When the paragraph after such a program says what it prints ("It
#    prints `x`, then `y`."), each backticked text after "prints" must be
#    in its output.
# 3. Every sample output that names a place in the sources,
#    "at src/FILE.c:LINE in FUNCTION" (or examples/FILE.c, in the
#    examples' synopses), names a line that raises an error
#    (the library records where it raised one, and the public function
#    it was raised for), so that quoted outputs cannot drift from the
#    sources unnoticed.
#
# Prints what is wrong and exits 1 if anything is.
set -eu
src="${top_srcdir:-.}"
build="${top_builddir:-.}"
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

libtool="$build/libtool"
if [ ! -x "$libtool" ] || [ ! -f "$build/libfuture.la" ]; then
  echo "doc-programs: run from a built tree (make check does)"
  exit 1
fi
abs_build=$(cd "$build" && pwd)
abs_src=$(cd "$src" && pwd)

# Extract the programs: one file per program, and beside it the paragraph
# that follows the block (for point 2).
n=0
for md in "$abs_src/README.md" "$abs_src"/docs/*.md; do
  awk -v out="$tmp/prog" -v md="${md#$abs_src/}" '
    function flush_after() {
      if (pending != "") { print after > (pending ".after"); close(pending ".after") }
      pending = ""; after = ""; collecting = 0
    }
    /^```c$/ { inblock = 1; block = ""; start = NR; flush_after(); next }
    /^```/ && inblock {
      inblock = 0
      if (block ~ /(^|\n)int main\(/) {
        prog = block
        if (block !~ /#include/) prog = prev block
        k++
        f = out "-" k
        printf "%s", prog > (f ".c"); close(f ".c")
        print md ":" start > (f ".where"); close(f ".where")
        pending = f; collecting = 1; after = ""
      }
      prev = block
      next
    }
    inblock { block = block $0 "\n"; next }
    collecting {
      if ($0 == "" && after != "") { flush_after(); next }
      if ($0 != "") after = after $0 " "
    }
    END { flush_after() }
  ' "$md"
  # awk numbers from 1 in each file: give each file's programs their own
  # names before the next file reuses them.
  for f in "$tmp"/prog-*.c; do
    [ -e "$f" ] || continue
    n=$((n + 1))
    base=${f%.c}
    mv "$f" "$tmp/p$n.c"
    mv "$base.where" "$tmp/p$n.where"
    [ -f "$base.after" ] && mv "$base.after" "$tmp/p$n.after"
  done
done

mkdir "$tmp/run"
printf 'first\n' > "$tmp/run/a.txt"
printf 'second file\n' > "$tmp/run/b.txt"
for i in $(seq 1 "$n"); do
  where=$(cat "$tmp/p$i.where")
  # The build's own flags too: a sanitizer build's library needs its
  # programs built with the same sanitizer.
  if ! $libtool --mode=link ${CC:-cc} ${BUILD_CFLAGS:-} ${BUILD_LDFLAGS:-} \
      -std=gnu11 -Wall -Wextra -Werror \
      -I"$abs_src/include" ${UV_CFLAGS:-} -o "$tmp/p$i" "$tmp/p$i.c" \
      "$abs_build/libfuture.la" ${UV_LIBS:-} > "$tmp/p$i.cc" 2>&1; then
    echo "doc-programs: the program at $where does not compile:"
    cat "$tmp/p$i.cc"
    fail=1
    continue
  fi
  rc=0
  (cd "$tmp/run" && timeout 20 "$abs_build/libtool" --mode=execute "$tmp/p$i" a.txt b.txt) \
    > "$tmp/p$i.out" 2>&1 || rc=$?
  if [ "$rc" != 0 ]; then
    echo "doc-programs: the program at $where exited with status $rc:"
    cat "$tmp/p$i.out"
    fail=1
    continue
  fi
  rm -f "$tmp/failed"
  if [ -f "$tmp/p$i.after" ] && grep -q 'prints' "$tmp/p$i.after"; then
    # The backticked texts of the sentence that says what it prints.
    sed 's/.*prints//; s/\. .*//' "$tmp/p$i.after" | grep -o '`[^`]*`' |
      tr -d '`' | while IFS= read -r want; do
        if ! grep -qF -- "$want" "$tmp/p$i.out"; then
          echo "doc-programs: the program at $where does not print '$want':"
          cat "$tmp/p$i.out"
          echo x > "$tmp/failed"
        fi
      done
  fi
  if [ -f "$tmp/failed" ]; then
    fail=1
  else
    echo "doc-programs: $where compiles, runs and prints what the text says"
  fi
done

# 3. Places in the sources quoted in sample outputs.
grep -rnoE 'at (src|examples)/[a-z_]+\.c:[0-9]+ in [a-z_]+' "$abs_src/README.md" \
  "$abs_src"/docs/*.md "$abs_src"/examples/*.c 2>/dev/null |
  while IFS= read -r hit; do
    at=${hit#*at }
    file=${at%%:*}
    rest=${at#*:}
    line=${rest%% in *}
    func=${rest#* in }
    text=$(sed -n "${line}p" "$abs_src/$file")
    case "$text" in
      *[Ee][Rr][Rr]*) ;;
      *)
        echo "doc-programs: ${hit%%:*} quotes $file:$line (for $func), which raises no error: '$text'"
        echo x > "$tmp/drift" ;;
    esac
  done
[ -f "$tmp/drift" ] && fail=1
[ "$fail" = 0 ] && echo "doc-programs: $n programs, and every quoted place in the sources, match"
exit "$fail"
