#!/bin/sh
# Smoke test of bench/: every benchmark program, libfuture and the raw
# libuv floors (the tight ones and the callback-style ones), runs once with
# a small n, checks its own result (each exits non-zero when the chain, the
# awaits, the files, the timers or the work came out wrong, or when a
# future is left alive) and prints its result line; so does switch_cost
# (three lines), and the loops programs (three lines for each of their two
# workloads), and tree_walk's programs (libfuture, the floor, du) on a tree
# of 50 entries. When Node.js is found (NODE, or node on the PATH), the two
# Node.js forms of fs_fanout and tree_walk's run too. Nothing about speed
# is asserted: timings belong to `make bench`, on a quiet machine.
set -eu
b="${top_builddir:-.}/bench"
src="${top_srcdir:-.}/bench"
fail=0

run() { # program, then its arguments
  name=$1
  shift
  case $name in
    *.js) set -- "$node" "$src/$name" "$@" ;;
    *) set -- "$b/$name" "$@" ;;
  esac
  if ! out=$("$@" 2>&1); then
    echo "bench-smoke: $* failed:"
    echo "$out"
    fail=1
    return
  fi
  case "$out" in
    *"workload="*) echo "bench-smoke: $out" ;;
    *) echo "bench-smoke: $name printed no result line:"; echo "$out"; fail=1 ;;
  esac
}

for impl in future raw; do
  run chain_built_$impl 2000
  run chain_loop_$impl 2000
  run fs_fanout_$impl 50
  run timers_$impl 200
  run heartbeat_$impl 30
done
run chain_built_tight 2000
run chain_loop_tight 2000
run fs_fanout_onejob 50
run timers_heap 200
run tree_walk_future 50
run tree_walk_tight 50
run tree_walk_du 50
run chain_loop_future 2000 adopt
run await_loop_future 2000
run switch_cost 2000
for p in tcp_echo_future tcp_echo_raw; do
  run $p 500 1
  run $p 500 10
done
for impl in future tight; do
  run loops_$impl 2000 chain_loop
  run loops_$impl 20 fs_fanout
done
node=${NODE:-node}
if command -v "$node" >/dev/null 2>&1; then
  run fs_fanout.js 50
  run fs_fanout_cb.js 50
  run tcp_echo.js 500 10
  run tree_walk.js 50
else
  echo "bench-smoke: $node not found: the Node.js programs are not run"
fi
exit $fail
