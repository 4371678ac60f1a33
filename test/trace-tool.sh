#!/bin/sh
# tools/future-trace on a real trace: examples/heartbeat run with
# FUTURE_TRACE (run 1 works on the loop's thread, run 2 on the pool).
#   --text: the named operations come in time order, on their lanes, and
#           the heartbeat's marks are there;
#   --html: the page has the lanes (loop 1, pool 1, requests) and the
#           names, and is well-formed (xmllint when installed, and a
#           check of its own that every tag closes).
# test/trace-chromium.sh (run by .ci/run) loads the page in a browser.
set -eu
b="${top_builddir:-.}"
tool="$b/tools/future-trace"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "trace-tool: $*"
  exit 1
}

FUTURE_TRACE="$tmp/trace.json" "$b/examples/heartbeat" > /dev/null
"$tool" --text "$tmp/trace.json" > "$tmp/text" || fail "--text failed"

# Each of these, in this order (each after the line of the one before).
at=0
while read -r pattern; do
  n=$(awk -v at="$at" -v re="$pattern" \
    'NR > at && $0 ~ re { print NR; exit }' "$tmp/text")
  [ -n "$n" ] || {
    cat "$tmp/text"
    fail "no line matching /$pattern/ after line $at of the timeline"
  }
  at=$n
done <<'PATTERNS'
^ +time \(ms\) +lane +what
loop 1 +start +delay 20 ms +#1$
loop 1 +run +future_wait \(blocked\)
loop 1 +end +delay 20 ms +\([0-9.]+ ms, fulfilled\) +#1$
loop 1 +run +then work_on_loop +\([0-9.]+ ms\)
loop 1 +start +delay 20 ms
loop 1 +run +then start_pool_work
loop 1 +start +work +#
pool 1 +run +work +\([0-9.]+ ms\)
loop 1 +end +work +\([0-9.]+ ms, fulfilled\)
loop 1 +run +then note_pool_span
^requests in flight at most: 1
PATTERNS
beats=$(grep -c 'loop 1 *mark *beat$' "$tmp/text" || true)
[ "$beats" -ge 20 ] || fail "only $beats beats in the timeline"

"$tool" --html "$tmp/trace.json" -o "$tmp/trace.html" || fail "--html failed"
for want in '<g class="lane" data-lane="loop 1">' \
    '<g class="lane" data-lane="pool 1">' \
    '<g class="lane" data-lane="requests">' \
    '>then work_on_loop</text>' 'class="mark"' '<title>delay 20 ms'; do
  grep -qF "$want" "$tmp/trace.html" || fail "the page has no $want"
done
# Self-contained: nothing to fetch (the only URLs are namespace names).
if grep -qE '(src|href)=|url\(["'"'"']?[a-z]+:|@import' "$tmp/trace.html"; then
  fail "the page loads something from elsewhere"
fi
if command -v xmllint > /dev/null 2>&1; then
  xmllint --noout "$tmp/trace.html" || fail "the page is not well-formed"
fi
# Well-formed without xmllint: every tag opened is closed, in order.
awk '
  { text = text $0 "\n" }
  END {
    gsub(/<!DOCTYPE[^>]*>/, "", text)
    while ((i = index(text, "<![CDATA[")) > 0) {
      j = index(substr(text, i), "]]>")
      if (j == 0) { print "unterminated CDATA"; exit 1 }
      text = substr(text, 1, i - 1) substr(text, i + j + 2)
    }
    n = 0
    while (match(text, /<[^>]*>/)) {
      tag = substr(text, RSTART + 1, RLENGTH - 2)
      before = substr(text, 1, RSTART - 1)
      if (before ~ /</) { print "a stray <"; exit 1 }
      text = substr(text, RSTART + RLENGTH)
      if (tag ~ /\/$/) continue
      split(tag, w, /[ \t\n]/)
      name = w[1]
      if (name ~ /^\//) {
        name = substr(name, 2)
        if (n == 0 || stack[n] != name) {
          print "</" name "> closes <" (n ? stack[n] : "nothing") ">"
          exit 1
        }
        n--
      } else {
        stack[++n] = name
      }
    }
    if (n != 0) { print "<" stack[n] "> is never closed"; exit 1 }
  }' "$tmp/trace.html" || fail "the page is not well-formed"

# What is not a trace is refused, with a message.
echo '{"nothing": 1}' > "$tmp/not.json"
if "$tool" --text "$tmp/not.json" > /dev/null 2> "$tmp/err"; then
  fail "a file that is not a trace was accepted"
fi
grep -q 'not a trace' "$tmp/err" || fail "no clear message: $(cat "$tmp/err")"
echo "trace-tool: the timeline and the page of a heartbeat trace are right"
