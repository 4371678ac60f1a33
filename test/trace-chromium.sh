#!/bin/sh
# The trace viewer's page in a real browser: headless chromium loads the
# page tools/future-trace makes of a trace of examples/heartbeat, runs its
# script, and the DOM it dumps says that the lanes are drawn (the script
# counts them and writes "3 lanes drawn: loop 1, pool 1, requests").
# Run by .ci/run, from the top of a built tree; not by `make check` (a
# browser is too heavy). Without a chromium that runs headless here, it
# says so and exits 77 (skipped).
set -eu
b="${top_builddir:-.}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

browser=
for c in chromium chromium-browser google-chrome; do
  if command -v "$c" > /dev/null 2>&1; then
    browser=$c
    break
  fi
done
if [ -z "$browser" ]; then
  echo "trace-chromium: skipped: no chromium (Debian: apt-get install chromium)"
  exit 77
fi

FUTURE_TRACE="$tmp/trace.json" "$b/examples/heartbeat" > /dev/null
"$b/tools/future-trace" --html "$tmp/trace.json" -o "$tmp/trace.html"
# --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
if ! timeout 120 "$browser" --headless --no-sandbox --disable-gpu \
    --dump-dom "file://$tmp/trace.html" > "$tmp/dom" 2> "$tmp/err" ||
    [ ! -s "$tmp/dom" ]; then
  echo "trace-chromium: skipped: $browser does not run headless here:"
  tail -n 3 "$tmp/err"
  exit 77
fi
for want in 'data-lanes="3"' \
    'id="status">3 lanes drawn: loop 1, pool 1, requests<' \
    'data-lane="loop 1"' 'data-lane="pool 1"' 'then work_on_loop'; do
  if ! grep -qF "$want" "$tmp/dom"; then
    echo "trace-chromium: the page in $browser has no $want"
    exit 1
  fi
done
echo "trace-chromium: $browser drew the lanes: loop 1, pool 1, requests"
