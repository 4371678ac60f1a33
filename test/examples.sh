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
  "largest gap between beats" "one column per 10 ms: '|' a beat came" \
  "40 STEPS chained on resolved futures" "40 STEPS chained on future_yield"
expect errors "steps that never ran: validate, apply" "recovering with 8080" \
  "fulfilled with 8081" "caused by: parsing 'port=eighty'" \
  "finally: cleaning up" "steps that never ran: listen" \
  "all: rejected: open 'b.txt'" "all_settled: fulfilled, with every outcome" \
  "input 1: rejected" "unhandled rejection" "error: writing the audit log"
# The skipped steps' callbacks never ran: no line of theirs at all.
case "$out" in
  *'step "validate"'*|*'step "apply"'*)
    echo "examples: errors ran a step the error should have skipped:"
    echo "$out"
    fail=1 ;;
esac
expect three_ways "(a) a chain of continuations" \
  "(b) future_wait, on a loop of its own (blocking)" \
  "(c) a fiber and future_await" \
  "poem.txt -> POEM-a.txt: 4 lines, 29 words, upper-cased" \
  "poem.txt -> POEM-b.txt: 4 lines, 29 words, upper-cased" \
  "poem.txt -> POEM-c.txt: 4 lines, 29 words, upper-cased" \
  "(FUTURE_EINCALLBACK)" "timelines" "summary" \
  "POEM-a.txt, POEM-b.txt, POEM-c.txt: the same, the poem upper-cased" \
  "MISSING-a.txt, MISSING-b.txt, MISSING-c.txt: not written"
# Each way lands the missing file's error in its report step, with its
# message, and goes on: 1 of 2 files converted, three times. The blocking
# way holds the loop for the whole job, so no beat can come during it,
# however slow the machine; the chain and the fiber leave the loop free,
# and at least one beat comes during their job on any machine (the beat
# timer is due before the job's first delay ends, and libuv runs due
# timers in order). Only that is asserted, never a time.
three_ways_lines() { # the number of lines of $out that match the regex $1
  printf '%s\n' "$out" | grep -cE "$1" || true
}
for want in \
  "3:^    missing.txt: open 'missing.txt': no such file or directory \(ENOENT\)$" \
  "3:^    converted 1 of 2 files; " \
  "1:^  \(a\) chain +[0-9]+ ms +[1-9][0-9]* +[0-9]+ ms  kept beating$" \
  "1:^  \(b\) future_wait +[0-9]+ ms +0 +[0-9]+ ms  stopped$" \
  "1:^  \(c\) fiber +[0-9]+ ms +[1-9][0-9]* +[0-9]+ ms  kept beating$"; do
  n=${want%%:*} re=${want#*:}
  if [ "$(three_ways_lines "$re")" != "$n" ]; then
    echo "examples: three_ways output lacks $n line(s) matching '$re':"
    echo "$out"
    fail=1
  fi
done
# next_line checks the order itself (it exits 1 if an outcome comes on
# the wrong side of the next line); the lines name where each error lands.
expect next_line "1. blocking: open(2) + read(2)" \
  "<- the result, first" "<- the error, at once: a return code" \
  "<- the error, later: a callback argument" \
  "<- the error, later: in the catch" "<- the error: await's status" \
  "in 1 the outcome came before the next line; in 2, 3 and 4 the next line ran first"
expect line_server "server: listening on 127.0.0.1:" \
  '"hello" -> "HELLO"' '"world" -> "WORLD"' \
  'connection 2 disconnected mid-line: "half a li" (9 bytes, no newline)' \
  "ended after 2 lines" 'client 1 got: "HELLO\nWORLD\n"' \
  "client 2 sent half a line and left" \
  "accept loop ended: listener closed (ECANCELED)"
# http_get prints its results in the order of the URLs, whatever order
# the GETs finished in: the lines are checked whole, in that order.
expect http_get "server: listening on 127.0.0.1:" \
  "/hello -> 200, 13 bytes
2. http://localhost:" "/big -> 200, 100000 bytes
3. http://localhost:" "/slow -> error: timed out after 2000 ms" \
  "/missing -> 404, 10 bytes
5. http://127.0.0.1:1/ -> error: connect 127.0.0.1:1: connection refused (ECONNREFUSED)
5 URLs: 3 answered (2 with 200, 1 with 404), 2 failed; at most 2 in flight (limit 2)"
expect timeout_retry_cancel "timed out after 100 ms" "attempt 3" \
  "connected after" "queued job: cancelled" "its function ran: no"

# Like expect, for an example run with arguments: the exit status it must
# give, the example and its arguments (one word, split on blanks, expanded
# once more: quote variables inside it), then the texts.
expect_args() {
  want_rc=$1 cmd=$2
  shift 2
  rc=0
  out=$(eval "\"\$b\"/$cmd" 2>&1) || rc=$?
  if [ "$rc" != "$want_rc" ]; then
    echo "examples: $cmd exited $rc, not $want_rc:"
    echo "$out"
    fail=1
    return
  fi
  for want in "$@"; do
    case "$out" in
      *"$want"*) ;;
      *) echo "examples: $cmd output lacks '$want':"; echo "$out"; fail=1 ;;
    esac
  done
  echo "examples: $cmd ok"
}

expect_args 0 "readfile 20" "made 20 files of 64 KiB" \
  "(a) blocking read(2)" "(b) future_fs_read_file + future_wait" \
  "(c) future_fs_read_file for every file + future_all" \
  "20 files read in" "all 20 verified" "beats during the reads" \
  "timelines" "(c) beats" "summary" "what this run shows"
expect_args 0 "fanout 300 16" "made 300 files" "(1) all at once" \
  "(2) bounded: future_map, at most 16 in flight" "peak in flight: 16;" \
  "peak in flight: 1;" "results in input order: ok" \
  "future_map kept at most 16 reads in flight (limit 16)"

# fdu on a tree made here: sizes known, a hard link (counted once), a
# symbolic link (not followed).
tree=$(mktemp -d "${TMPDIR:-/tmp}/fdu-test.XXXXXX")
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/a/b" "$tree/c"
printf hello > "$tree/a/five"
dd if=/dev/zero of="$tree/a/b/big" bs=1000 count=30 2>/dev/null
ln "$tree/a/b/big" "$tree/c/big-again"
ln -s five "$tree/a/link"
# Apparent size: every entry's size (ls -ldn, column 5), the second name of
# the hard link left out.
apparent=$(find "$tree" ! -name big-again -exec ls -ldn {} + |
  awk '{ s += $5 } END { print s }')
tab=$(printf '\t')
expect_args 0 'fdu -s --apparent-size "$tree"' "$apparent$tab$tree"
expect_args 0 'fdu -a -b "$tree"' "5$tab$tree/a/five" "4$tab$tree/a/link" \
  "30000$tab$tree/" "$tab$tree/a/b" "$apparent$tab$tree"
if blocks=$(du -s -B1 "$tree" 2>/dev/null); then # GNU du: space used too
  expect_args 0 'fdu -s "$tree"' "$blocks"
fi
expect_args 0 "fdu --help" "usage: fdu" "--apparent-size"
expect_args 1 'fdu "$tree/missing" "$tree/a"' \
  "fdu: cannot access '$tree/missing': no such file or directory (ENOENT)" \
  "$tab$tree/a"
# Ctrl-C during a long walk (/usr: tens of thousands of entries, seconds
# of work): future_signal wins the race, the walk is cancelled, fdu says so
# and exits with 130. A walk that finished before the signal came (a very
# fast machine) must then have printed its total and exited 0.
if [ -d /usr ]; then
  "$b/fdu" -s /usr > "$tree.out" 2> "$tree.err" &
  pid=$!
  sleep 0.3
  kill -INT "$pid" 2>/dev/null || true
  rc=0
  wait "$pid" || rc=$?
  if [ "$rc" = 130 ] && grep -qx 'fdu: interrupted' "$tree.err"; then
    echo "examples: fdu interrupted by Ctrl-C ok"
  elif [ "$rc" = 0 ] && grep -q "/usr\$" "$tree.out"; then
    echo "examples: fdu finished before Ctrl-C came (not checked)"
  else
    echo "examples: fdu after Ctrl-C: exit status $rc:"
    cat "$tree.out" "$tree.err"
    fail=1
  fi
  rm -f "$tree.out" "$tree.err"
fi
# The timeline: FUTURE_TRACE=path records the run as Chrome trace-event
# JSON, written when the program exits.
trace=$(mktemp)
if FUTURE_TRACE="$trace" "$b/pipeline" > /dev/null 2>&1 &&
   grep -q '"traceEvents"' "$trace" &&
   grep -q '"name":"then double_it","cat":"future","ph":"X"' "$trace" &&
   grep -q '"name":"future_wait (blocked)"' "$trace"; then
  echo "examples: FUTURE_TRACE timeline ok"
else
  echo "examples: FUTURE_TRACE did not write the expected timeline:"
  head -c 600 "$trace"
  fail=1
fi
rm -f "$trace"
exit $fail
