#!/bin/sh
# The reference documentation covers the whole public API, and the header
# documents every function it exports.
#
# 1. Every public symbol has an entry in docs/reference.md: a Markdown
#    heading that names it in backticks, as in "### `future_then`" (one
#    heading may name several symbols). The public symbols are
#    - the functions marked FUTURE_EXTERN, listed from the preprocessed
#      header exactly as test/exports.sh lists them;
#    - the macros the headers define (FUTURE_* and function-like future_*),
#      except the include guards;
#    - the type names the headers define with typedef (future_*);
#    - the enumeration constants the headers define (FUTURE_*).
# 2. No heading of docs/reference.md names a future_* or FUTURE_* symbol
#    that the headers no longer define (a stale entry).
# 3. Every FUTURE_EXTERN declaration in the headers is preceded by a doc
#    comment (/** ... */).
#
# Prints what is missing and exits 1 if anything is.
set -eu
src="${top_srcdir:-.}"
inc="$src/include"
ref="$src/docs/reference.md"
headers="$inc/future.h $inc/future/fs.h $inc/future/async.h $inc/future/dns.h $inc/future/signal.h $inc/future/watch.h $inc/future/process.h $inc/future/udp.h $inc/future/stream.h"
fail=0

if [ ! -f "$ref" ]; then
  echo "docs: $ref is missing"
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The preprocessed header, comments gone, on one line.
${CC:-cc} -E -P ${UV_CFLAGS:-} -I"$inc" -DFUTURE_EXTERN=__future_exported__ \
  "$inc/future.h" > "$tmp/pp"
tr '\n' ' ' < "$tmp/pp" | tr -s ' \t' '  ' > "$tmp/flat"

# Functions: as test/exports.sh lists them.
tr '\n' ' ' < "$tmp/pp" | tr ';' '\n' | grep '__future_exported__' |
  sed 's/(.*//' | awk '{ print $NF }' | tr -d '*' > "$tmp/symbols"
nfunc=$(wc -l < "$tmp/symbols")

# Macros: every #define of FUTURE_* or future_* in the headers, include
# guards (*_H) aside.
cat $headers |
  sed -n 's/^[[:space:]]*#[[:space:]]*define[[:space:]]\{1,\}\([A-Za-z_][A-Za-z0-9_]*\).*/\1/p' |
  grep -E '^(FUTURE_|future_)' | grep -v '_H$' >> "$tmp/symbols" || true

# Types: typedef names of the library, from the preprocessed header:
# function pointers "typedef ... (*future_x)(...)", one-line typedefs
# "typedef struct s future_x_t" and the closing "} future_x_t;" of a
# typedef with a body.
{
  grep -o 'typedef [^;{]*( *\* *future_[A-Za-z0-9_]* *)' "$tmp/flat" |
    sed 's/.*( *\* *\(future_[A-Za-z0-9_]*\) *)$/\1/'
  grep -oE 'typedef (struct|enum|union) [A-Za-z0-9_]+ future_[A-Za-z0-9_]* *;' \
    "$tmp/flat" | sed 's/.* \(future_[A-Za-z0-9_]*\) *;$/\1/'
  grep -o '} *future_[A-Za-z0-9_]* *;' "$tmp/flat" |
    sed 's/} *\(future_[A-Za-z0-9_]*\) *;$/\1/'
} >> "$tmp/symbols" || true

# Enumeration constants: the FUTURE_* names inside enum bodies.
grep -oE 'enum( [A-Za-z0-9_]+)? *[{][^}]*[}]' "$tmp/flat" |
  grep -o 'FUTURE_[A-Z0-9_]*' >> "$tmp/symbols" || true

sort -u "$tmp/symbols" > "$tmp/public"

# The names docs/reference.md has headings for.
grep -E '^#{1,6}[[:space:]]' "$ref" | grep -o '`[A-Za-z_][A-Za-z0-9_]*`' |
  tr -d '`' | sort -u > "$tmp/documented"

comm -23 "$tmp/public" "$tmp/documented" > "$tmp/missing"
if [ -s "$tmp/missing" ]; then
  echo "docs: public symbols without an entry (a heading) in docs/reference.md:"
  sed 's/^/  /' "$tmp/missing"
  fail=1
fi

grep -E '^(future_|FUTURE_)' "$tmp/documented" |
  comm -23 - "$tmp/public" > "$tmp/stale" || true
if [ -s "$tmp/stale" ]; then
  echo "docs: docs/reference.md has entries for symbols the headers do not define:"
  sed 's/^/  /' "$tmp/stale"
  fail=1
fi

# Doc comments: the last thing before each line that starts a FUTURE_EXTERN
# declaration must be a comment that opened with "/**".
for h in $headers; do
  awk -v file="$h" '
    function flush_decl(   head, n, w) {
      head = decl
      sub(/\(.*/, "", head)
      n = split(head, w, /[ \t*]+/)
      while (n > 0 && w[n] == "") n--
      if (!doc)
        printf "%s:%d: %s has no doc comment (/** ... */) before it\n",
          file, declline, w[n]
      indecl = 0
      doc = 0
    }
    {
      line = $0
      if (indecl) {
        decl = decl " " line
        if (line ~ /;/) flush_decl()
        next
      }
      if (incomment) {
        if (line ~ /\*\//) { incomment = 0; doc = commentdoc }
        next
      }
      if (line ~ /^[ \t]*\/\*/) {
        commentdoc = (line ~ /^[ \t]*\/\*\*/)
        if (line ~ /\*\/[ \t]*$/) { doc = commentdoc } else { incomment = 1 }
        next
      }
      if (line ~ /^[ \t]*$/) next
      if (line ~ /^FUTURE_EXTERN[ \t]/) {
        decl = line
        declline = NR
        if (line ~ /;/) flush_decl(); else indecl = 1
        next
      }
      doc = 0
    }
  ' "$h" > "$tmp/undocumented"
  if [ -s "$tmp/undocumented" ]; then
    cat "$tmp/undocumented"
    fail=1
  fi
done

if [ "$fail" -ne 0 ]; then
  exit 1
fi
echo "docs: $(wc -l < "$tmp/public") public symbols ($nfunc functions)," \
  "each with an entry in docs/reference.md; every FUTURE_EXTERN" \
  "declaration has a doc comment"
