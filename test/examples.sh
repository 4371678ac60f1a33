#!/bin/sh
# Smoke test: every example runs to completion, exits 0, and tells its
# story (the lines that carry it are present). No timing is asserted: the
# machine may be slow or busy.
set -eu
b="${top_builddir:-.}/examples"
fail=0

expect() { # example, then the texts its output must contain
  name=$1
  shift
  if ! out=$("$b/$name" 2>&1); then
    echo "examples: $name exited non-zero:"
    echo "$out"
    fail=1
    return
  fi
  for want in "$@"; do
    case "$out" in
      *"$want"*) ;;
      *) echo "examples: $name output lacks '$want':"; echo "$out"; fail=1 ;;
    esac
  done
  echo "examples: $name ok"
}

expect pipeline "nothing has run yet (state: pending)" "then step 1" \
  "skipped" "caught: check '42'" "finally" "future_wait returned 0 with value 0"
expect heartbeat "ON THE LOOP THREAD" "ON THE THREAD POOL" \
  "largest gap between beats"
expect errors 'step "validate": skipped' "recovering with 8080" \
  "fulfilled with 8081" "caused by: parsing 'port=eighty'" \
  "finally: cleaning up" "input 1: rejected" "unhandled rejection" \
  "error: writing the audit log"
expect timeout_retry_cancel "timed out after 100 ms" "attempt 3" \
  "connected after" "queued job: cancelled" "its function ran: no"
exit $fail
