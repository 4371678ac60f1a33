#!/bin/sh
# The documentation refers only to what the project holds: every reference
# in it resolves to a file of the distributed tree (this runs on the
# unpacked tarball in make distcheck, so a file left out of the tarball
# fails too). In the Markdown files (README.md, NEWS, docs/, examples/,
# bench/, fuzz/), outside fenced code blocks:
#   1. every relative link [text](path) or [text](path#anchor) names a
#      file or directory, relative to the page, and an anchor names a
#      heading of that page (as GitHub makes anchors from headings);
#      [text](#anchor) a heading of the same page; URLs are not followed;
#   2. every path in backticks that starts with a directory or file at the
#      top of the tree (`include/future.h`, `test/docs.sh`, `src/`)
#      resolves from the top, and one that starts with ../ from the page; a program is resolved by its source
#      (`examples/three_ways` by examples/three_ways.c). Paths with
#      placeholders (`bench/<workload>_raw.c`, `test/check_*.c`,
#      `examples/NAME`, `src/...`) and anything else in backticks (code,
#      `timers/promises`) are left alone;
#   3. every name of a Markdown file (`fuzz/README.md`, README.md), in
#      backticks or not, names one, relative to the page or to the top
#      (a shell or make variable before it, $src/ or $(srcdir)/, stands
#      for the top).
# Check 3 also runs over the comments of the headers, sources, scripts
# and build files, which cite the Markdown pages as well.
set -eu
src="${top_srcdir:-.}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

docs=""
for f in "$src"/*.md "$src"/NEWS "$src"/docs/*.md "$src"/examples/*.md \
    "$src"/bench/*.md "$src"/fuzz/*.md "$src"/man/*.md "$src"/test/*.md; do
  [ -f "$f" ] && docs="$docs $f"
done
others=""
for f in "$src"/include/*.h "$src"/include/future/*.h "$src"/src/*.[ch] \
    "$src"/test/*.[ch] "$src"/test/*.sh "$src"/test/mutants.txt \
    "$src"/examples/*.c "$src"/bench/*.[ch] "$src"/bench/*.js \
    "$src"/bench/*.sh "$src"/fuzz/*.[ch] "$src"/fuzz/*.sh "$src"/man/*.sh \
    "$src"/man/*.in "$src"/configure.ac "$src"/Makefile.am \
    "$src"/bootstrap "$src"/.ci/run; do
  [ -f "$f" ] && others="$others $f"
done

# The anchors of a Markdown page: its headings, outside code blocks,
# lower-cased, without punctuation, spaces made hyphens.
anchors() {
  awk '/^```/ { code = !code; next }
       !code && /^#+[ \t]/ {
         h = $0
         sub(/^#+[ \t]+/, "", h)
         sub(/[ \t]+#*[ \t]*$/, "", h)
         h = tolower(h)
         gsub(/[^a-z0-9 _-]/, "", h)
         gsub(/ /, "-", h)
         print h
       }' "$1"
}

# What each page refers to, one "KIND LINE TARGET" per reference:
# L a link's target, P a backticked path, M a Markdown file's name.
refs() {
  awk '
    /^[ \t]*```/ { code = !code; next }
    code { next }
    {
      line = $0
      # 1. links [text](target)
      s = line
      while (match(s, /\]\([^)]+\)/)) {
        print "L " NR " " substr(s, RSTART + 2, RLENGTH - 3)
        s = substr(s, RSTART + RLENGTH)
      }
      # 2. paths in backticks
      s = line
      while (match(s, /`[^`]+`/)) {
        t = substr(s, RSTART + 1, RLENGTH - 2)
        s = substr(s, RSTART + RLENGTH)
        if (t ~ /^(\.\.?\/)?[A-Za-z0-9_.-]+\/[A-Za-z0-9_.\/-]*$/ &&
            t !~ /\.\.\./ && t !~ /(^|\/)[A-Z]+(\/|$)/)
          print "P " NR " " t
      }
      # 3. names of Markdown files, not inside a URL
      s = line
      gsub(/[a-z]+:\/\/[^ )>]*/, "", s)
      gsub(/\$(\{[A-Za-z_][A-Za-z0-9_]*\}|\([A-Za-z_][A-Za-z0-9_]*\)|[A-Za-z_][A-Za-z0-9_]*)\//, "", s)
      while (match(s, /[A-Za-z0-9_.\/-]*[A-Za-z0-9_-]\.md([^A-Za-z0-9_]|$)/)) {
        t = substr(s, RSTART, RLENGTH)
        sub(/[^A-Za-z0-9_]$/, "", t)
        s = substr(s, RSTART + RLENGTH)
        print "M " NR " " t
      }
    }' "$1"
}

bad() { # file line message
  echo "$1:$2: $3"
  fail=1
}

# The entries at the top of the tree, for check 2.
top=$(cd "$src" && ls -A)

nrefs=0
for f in $docs $others; do
  dir=$(dirname "$f")
  name=${f#"$src"/}
  case "$f" in *.md|*/NEWS) md=1 ;; *) md=0 ;; esac
  refs "$f" > "$tmp/refs"
  while read -r kind line target; do
    case "$kind" in
      L)
        [ "$md" = 1 ] || continue
        case "$target" in
          [a-z]*:*) continue ;;  # a URL (https:, mailto:)
        esac
        nrefs=$((nrefs + 1))
        path=${target%%#*}
        anchor=""
        case "$target" in *"#"*) anchor=${target#*#} ;; esac
        if [ -z "$path" ]; then
          page=$f
        elif [ -e "$dir/$path" ]; then
          page=$dir/$path
        else
          bad "$name" "$line" "link to $path, which is not in the tree"
          continue
        fi
        if [ -n "$anchor" ]; then
          case "$page" in
            *.md)
              anchors "$page" | grep -qxF -- "$anchor" ||
                bad "$name" "$line" "link to #$anchor: no such heading in ${page#"$src"/}"
              ;;
          esac
        fi
        ;;
      P)
        [ "$md" = 1 ] || continue
        case "$target" in
          ../*)
            nrefs=$((nrefs + 1))
            [ -e "$dir/$target" ] ||
              bad "$name" "$line" "\`$target\` is not in the tree"
            continue
            ;;
        esac
        path=${target#./}
        first=${path%%/*}
        echo "$top" | grep -qxF -- "$first" || continue
        nrefs=$((nrefs + 1))
        p=${path%/}
        [ -e "$src/$p" ] || [ -e "$src/$p.c" ] || [ -e "$src/$p.in" ] ||
          bad "$name" "$line" "\`$target\` is not in the tree"
        ;;
      M)
        nrefs=$((nrefs + 1))
        [ -f "$dir/$target" ] || [ -f "$src/$target" ] ||
          bad "$name" "$line" "$target is not in the tree"
        ;;
    esac
  done < "$tmp/refs"
done

if [ "$fail" -ne 0 ]; then
  echo "links: references above do not resolve inside the project"
  exit 1
fi
echo "links: $nrefs references in $(echo $docs | wc -w) documents and" \
  "$(echo $others | wc -w) other files, each to a file of the project"
