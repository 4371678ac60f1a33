#!/bin/sh
# Smoke test: every example runs to completion and says what it should.
set -eu
b="${top_builddir:-.}"
out=$("$b/examples/pipeline")
for want in "then step 1" "skipped" "caught" "finally" "future_wait"; do
  case "$out" in
    *"$want"*) ;;
    *) echo "examples: pipeline output lacks '$want':"; echo "$out"; exit 1 ;;
  esac
done
echo "examples: pipeline ok"
