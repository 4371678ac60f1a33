#!/bin/sh
# libfuture's benchmark driver (bench/README.md). `make bench` builds the C
# programs and runs this script from the top build directory; it builds
# nothing itself.
#
#   sh bench/run.sh               run every workload BENCH_RUNS times and
#                                 print a table of medians
#   sh bench/run.sh --callgrind   instructions per link of chain_built and
#                                 per hop of chain_loop (libfuture, tight
#                                 floor, callback-style floor), per await of
#                                 await_loop, and per call and switch of
#                                 switch_cost, under callgrind
#
# Implementations (impl= in the result lines): future (libfuture),
# pipeline (libfuture's future_pipeline with value steps, for chain_built
# and chain_loop; pipeline_then, its future_pipeline_then steps, under
# callgrind only), delay_then (timers with future_delay_then), tight
# (the tightest hand-written libuv program: *_tight, timers_wheel,
# fs_fanout_onejob), heap (timers_heap: the binary-heap floor issue 14
# set for timers), raw (the callback-style floor, *_raw), node (Node.js)
# and, for fs_fanout, node_cb (fs.readFile's callback wrapped in a
# promise); for tree_walk, du (du -s -B1, the reference a user would
# run). Every ratio of the summary is against the tight floor.
#
# Environment:
#   BENCH_RUNS       runs of each program (default 5)
#   BENCH_WORKLOADS  which workloads (default: all ten, in order);
#                    await_loop brings chain_loop along (it is compared
#                    with it), and runs switch_cost
#   BENCH_CHAIN_N    links of chain_built, hops of chain_loop, awaits of
#                    await_loop (1000000)
#   BENCH_SWITCH_N   iterations of switch_cost (10000000)
#   BENCH_FS_N       files of fs_fanout (10000; at most 100000)
#   BENCH_TREE_N     entries of tree_walk's tree (100000), made once in a
#                    temporary directory (bench/tree.h says its shape)
#   BENCH_TREE_DIR   walk this tree instead (e.g. /usr), as it is
#   BENCH_TIMERS_N   timers of timers (1000000)
#   BENCH_WORK_MS    CPU work of heartbeat, ms (400)
#   BENCH_TCP_N      round trips of tcp_echo (over 1 connection) and
#                    tcp_echo_100 (over 100 at once) (100000)
#   BENCH_LOOPS_CHAIN_N  hops of chain_loop per loop in loops (10000000)
#   BENCH_LOOPS_FS_N     files of fs_fanout per loop in loops (4000; the
#                    four loops hold up to 4 times as many open at once)
#   BENCH_CG_N       n under callgrind (100000)
#   BENCH_CG_FS_N    files and entries of fs_fanout and tree_walk under
#                    callgrind (2000, and twice as many)
#   BENCH_BINDIR     where the built C programs are (./bench)
#   NODE             Node.js (default: `node` from PATH; rows are skipped
#                    without it)
#   LIBTOOL          libtool, to run the uninstalled programs under valgrind
#                    (default ./libtool)
#   VALGRIND         valgrind (default: from PATH)
#
# Each program prints one line of key=value pairs; this script keeps them
# all, then prints the medians. It exits non-zero if any run failed (a
# program exits non-zero when its result is wrong).

set -u

srcdir=$(cd "$(dirname "$0")" && pwd)
bindir=${BENCH_BINDIR:-./bench}
runs=${BENCH_RUNS:-5}
workloads=${BENCH_WORKLOADS:-"chain_built chain_loop await_loop fs_fanout timers heartbeat loops tcp_echo tcp_echo_100 tree_walk"}
chain_n=${BENCH_CHAIN_N:-1000000}
switch_n=${BENCH_SWITCH_N:-10000000}
fs_n=${BENCH_FS_N:-10000}
tree_n=${BENCH_TREE_N:-100000}
tree_dir=${BENCH_TREE_DIR:-}
timers_n=${BENCH_TIMERS_N:-1000000}
work_ms=${BENCH_WORK_MS:-400}
tcp_n=${BENCH_TCP_N:-100000}
loops_chain_n=${BENCH_LOOPS_CHAIN_N:-10000000}
loops_fs_n=${BENCH_LOOPS_FS_N:-4000}
cg_n=${BENCH_CG_N:-100000}
cg_fs_n=${BENCH_CG_FS_N:-2000}
node=${NODE:-}
if [ -z "$node" ]; then
  node=$(command -v node 2>/dev/null || true)
elif ! command -v "$node" >/dev/null 2>&1; then
  echo "run.sh: NODE=$node is not a program" >&2
  node=
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/libfuture-bench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

die() {
  echo "run.sh: $*" >&2
  exit 1
}

# The value of key $1 in the result line on stdin.
field() {
  awk -v k="$1" '{
    for (i = 1; i <= NF; i++) {
      p = index($i, "=")
      if (p > 0 && substr($i, 1, p - 1) == k) print substr($i, p + 1)
    }
  }'
}

# The median of the numbers on stdin, one a line; "-" if there are none.
median() {
  sort -g | awk '{ v[NR] = $1 }
    END {
      if (NR == 0) print "-"
      else if (NR % 2) print v[(NR + 1) / 2]
      else print (v[NR / 2] + v[NR / 2 + 1]) / 2
    }'
}

# ---------------------------------------------------------------------------
# make bench-callgrind

if [ "${1:-}" = "--callgrind" ]; then
  valgrind=${VALGRIND:-$(command -v valgrind 2>/dev/null || true)}
  [ -n "$valgrind" ] || die "valgrind not found"
  # A command, perhaps with arguments ("/bin/bash ./libtool"): unquoted.
  libtool=${LIBTOOL:-./libtool}
  echo "Instructions per link, hop or await under callgrind (n=$cg_n),"
  echo "counted inside bench_run() only (--toggle-collect=bench_run):"
  echo "building, running and freeing the chain, without process start-up."
  echo
  # Ir per op of program $1 with arguments $2..., under callgrind, into
  # $cg_per (empty if it failed).
  cg_run() {
    prog=$bindir/$1
    shift
    cg_per=
    [ -x "$prog" ] || die "$prog not built (make bench-callgrind builds it)"
    out=$tmp/callgrind.out
    rm -f "$out"
    if ! $libtool --mode=execute "$valgrind" --tool=callgrind \
        --callgrind-out-file="$out" --toggle-collect=bench_run \
        "$prog" "$@" >"$tmp/cg.stdout" 2>"$tmp/cg.stderr"; then
      cat "$tmp/cg.stderr" >&2
      echo "run.sh: $prog $* failed under callgrind" >&2
      status=1
      return
    fi
    cg_ir=$(awk '/^(totals|summary):/ { print $2; exit }' "$out")
    [ -n "$cg_ir" ] || die "no totals in $out"
    cg_per=$(awk -v ir="$cg_ir" -v n="$1" 'BEGIN { printf "%.1f", ir / n }')
  }
  x() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
  echo "tight: the tightest hand-written libuv floor; raw: the callback-style"
  echo "one (bench/README.md). /tight: Ir/op over the tight floor's;"
  echo "future/this: libfuture's Ir/op over this row's."
  echo
  cfmt='%-12s %-13s %14s %10s %9s %12s\n'
  printf "$cfmt" workload impl "Ir" "Ir/op" "/tight" "future/this"
  status=0
  hop_future= hop_raw= hop_tight= await_per=
  for w in chain_built chain_loop await_loop; do
    ir_future= ir_tight= ir_raw= per_future= per_tight= per_raw=
    ir_pipeline= per_pipeline= ir_pipeline_then= per_pipeline_then=
    impls="future pipeline pipeline_then tight raw"
    [ "$w" = await_loop ] && impls=future
    for impl in $impls; do
      case $impl in
        pipeline_then) cg_run "${w}_pipeline" "$cg_n" then ;;
        *) cg_run "${w}_$impl" "$cg_n" ;;
      esac
      [ -n "$cg_per" ] || continue
      eval "ir_$impl=\$cg_ir per_$impl=\$cg_per"
    done
    # await_loop has no floor of its own: its reference is a tight hop.
    ref=$per_tight
    [ "$w" = await_loop ] && ref=$hop_tight
    for impl in $impls; do
      eval "ir=\$ir_$impl per=\$per_$impl"
      [ -n "$per" ] || continue
      rt=- rf=-
      [ -n "$ref" ] && rt=$(x "$per" "$ref")
      [ "$impl" != future ] && [ -n "$per_future" ] &&
        rf=$(x "$per_future" "$per")
      printf "$cfmt" "$w" "$impl" "$ir" "$per" "$rt" "$rf"
    done
    if [ "$w" = chain_loop ]; then
      hop_future=$per_future hop_tight=$per_tight hop_raw=$per_raw
    fi
    [ "$w" = await_loop ] && await_per=$per_future
  done
  if [ -n "${await_per:-}" ] && [ -n "$hop_future" ] && [ -n "$hop_raw" ] &&
    [ -n "$hop_tight" ]; then
    echo
    echo "await_loop: one await executes $(x "$await_per" "$hop_future") the" \
      "instructions of a libfuture"
    echo "chain_loop hop (target, in time: at most 2x)," \
      "$(x "$await_per" "$hop_tight") those of a tight hop"
    echo "(its /tight above) and $(x "$await_per" "$hop_raw") those of a" \
      "callback-style (raw) one"
  fi
  echo
  echo "switch_cost (n=$cg_n): instructions per call, and per round trip of"
  echo "the fiber switch (two switches): bare, and as future_await makes it"
  echo
  printf '%-12s %-8s %14s %10s %12s\n' workload impl "Ir" "Ir/op" "/call"
  call_per=
  for mode in call switch fiber; do
    # No bare switch with ucontext's (switch_cost says so and fails).
    "$bindir/switch_cost" 1 "$mode" >/dev/null 2>&1 || continue
    cg_run switch_cost "$cg_n" "$mode"
    [ -n "$cg_per" ] || continue
    ratio=-
    if [ "$mode" = call ]; then
      call_per=$cg_per
    elif [ -n "$call_per" ]; then
      ratio=$(x "$cg_per" "$call_per")
    fi
    printf '%-12s %-8s %14s %10s %12s\n' switch_cost "$mode" "$cg_ir" \
      "$cg_per" "$ratio"
  done
  # The file-system workloads work on the thread pool, outside bench_run's
  # thread: count every thread of the whole program at two sizes, and take
  # the difference per item (start-up and loop set-up cancel out).
  echo
  echo "fs_fanout (files of 4 KiB), tree_walk (entries of bench/tree.h's"
  echo "tree) and tcp_echo: instructions per file, entry or round trip, every"
  echo "thread, from the difference between a run of n and one of 2n"
  echo "(n=$cg_fs_n; 5000 round trips); the system calls' own work in the"
  echo "kernel is not counted"
  echo
  printf '%-12s %-8s %10s %9s %12s\n' workload impl "Ir/op" "/tight" "future/this"
  # Whole-program Ir of program $1 with arguments $2..., into $cg_ir.
  cg_total() {
    prog=$bindir/$1
    shift
    cg_ir=
    out=$tmp/callgrind.out
    rm -f "$out"
    if ! $libtool --mode=execute "$valgrind" --tool=callgrind \
        --callgrind-out-file="$out" "$prog" "$@" \
        >"$tmp/cg.stdout" 2>"$tmp/cg.stderr"; then
      cat "$tmp/cg.stderr" >&2
      echo "run.sh: $prog $* failed under callgrind" >&2
      status=1
      return
    fi
    cg_ir=$(awk '/^(totals|summary):/ { print $2; exit }' "$out")
  }
  mkdir "$tmp/files" "$tmp/trees" || exit 1
  head -c $((4096 * 2 * cg_fs_n)) /dev/urandom |
    split -d -a 5 -b 4096 - "$tmp/files/f" || die "cannot make the files"
  "$bindir/tree_walk_make" "$tmp/trees/1" "$cg_fs_n" || die "no tree"
  "$bindir/tree_walk_make" "$tmp/trees/2" $((2 * cg_fs_n)) || die "no tree"
  for w in fs_fanout tree_walk; do
    per_tight= per_future=
    for impl in tight future raw; do
      case $w:$impl in
        fs_fanout:tight) cgp=fs_fanout_onejob ;;
        tree_walk:raw) continue ;;
        *) cgp=${w}_$impl ;;
      esac
      if [ "$w" = fs_fanout ]; then
        cg_total "$cgp" "$cg_fs_n" "$tmp/files"
        a=$cg_ir
        cg_total "$cgp" $((2 * cg_fs_n)) "$tmp/files"
      else
        cg_total "$cgp" "$cg_fs_n" "$tmp/trees/1"
        a=$cg_ir
        cg_total "$cgp" $((2 * cg_fs_n)) "$tmp/trees/2"
      fi
      [ -n "$a" ] && [ -n "$cg_ir" ] || continue
      per=$(awk -v a="$a" -v b="$cg_ir" -v n="$cg_fs_n" \
        'BEGIN { printf "%.0f", (b - a) / n }')
      eval "per_$impl=\$per"
      rt=- rf=-
      [ -n "$per_tight" ] && rt=$(x "$per" "$per_tight")
      [ "$impl" != future ] && [ -n "$per_future" ] && rf=$(x "$per_future" "$per")
      printf '%-12s %-8s %10s %9s %12s\n' "$w" "$impl" "$per" "$rt" "$rf"
    done
  done
  # tcp_echo: instructions per round trip (client and server in one
  # process), from runs of 5,000 and 10,000 round trips.
  per_tight= per_future=
  for impl in tight future; do
    case $impl in
      tight) cgp=tcp_echo_raw ;;
      *) cgp=tcp_echo_future ;;
    esac
    cg_total "$cgp" 5000
    a=$cg_ir
    cg_total "$cgp" 10000
    [ -n "$a" ] && [ -n "$cg_ir" ] || continue
    per=$(awk -v a="$a" -v b="$cg_ir" 'BEGIN { printf "%.0f", (b - a) / 5000 }')
    eval "per_$impl=\$per"
    rt=-
    [ -n "$per_tight" ] && rt=$(x "$per" "$per_tight")
    printf '%-12s %-8s %10s %9s %12s\n' tcp_echo "$impl" "$per" "$rt" -
  done
  exit $status
fi

# ---------------------------------------------------------------------------
# make bench

[ -n "$node" ] || echo "run.sh: node not found: Node.js rows skipped" >&2

impls="future pipeline delay_then tight heap raw du"
[ -n "$node" ] && impls="future pipeline delay_then tight heap raw node node_cb du"

# await_loop is read against chain_loop, in the same rounds.
case " $workloads " in
  *" await_loop "*)
    case " $workloads " in
      *" chain_loop "*) ;;
      *)
        echo "run.sh: await_loop is compared with chain_loop: running it too" >&2
        workloads="chain_loop $workloads"
        ;;
    esac
    ;;
esac

# The program of workload $1's implementation $2 (a C program in $bindir,
# or a script for Node.js), or nothing if the workload does not have that
# implementation: await_loop has no floor (its floors are chain_loop's),
# heartbeat no tight one, only fs_fanout has node_cb, and loops has
# libfuture and the tight floor alone.
program_for() {
  case $1:$2 in
    await_loop:tight | await_loop:raw | heartbeat:tight) ;;
    chain_built:pipeline | chain_loop:pipeline) echo "$1_pipeline" ;;
    *:pipeline) ;;
    *:node_cb) [ "$1" = fs_fanout ] && echo fs_fanout_cb.js ;;
    tcp_echo*:node) echo tcp_echo.js ;;
    tree_walk:du) echo tree_walk_du ;;
    *:du) ;;
    tree_walk:raw) ;;
    *:node) [ "$1" = loops ] || echo "$1.js" ;;
    loops:future | loops:tight) echo "loops_$2" ;;
    loops:*) ;;
    timers:tight) echo timers_wheel ;;
    timers:heap) echo timers_heap ;;
    *:heap) ;;
    timers:delay_then) echo timers_future ;;
    *:delay_then) ;;
    tcp_echo*:future) echo tcp_echo_future ;;
    tcp_echo*:tight) echo tcp_echo_raw ;;
    tcp_echo*:raw) ;;
    fs_fanout:tight) echo fs_fanout_onejob ;;
    *) echo "$1_$2" ;;
  esac
}

# Each implementation's command for workload $1 (for loops: sub-workload
# $3); nothing for an implementation the workload does not have.
command_for() {
  w=$1 impl=$2 sub=${3:--}
  prog=$(program_for "$w" "$impl")
  [ -n "$prog" ] || return 0
  case $w in
    chain_built | chain_loop | await_loop) n=$chain_n ;;
    fs_fanout) n=$fs_n ;;
    tree_walk) n=$tree_n ;;
    timers) n=$timers_n ;;
    heartbeat) n=$work_ms ;;
    loops) [ "$sub" = fs_fanout ] && n=$loops_fs_n || n=$loops_chain_n ;;
    tcp_echo | tcp_echo_100) n=$tcp_n ;;
    *) die "unknown workload $w" ;;
  esac
  case $impl in
    node*) set -- "$node" "$srcdir/$prog" "$n" ;;
    *) set -- "$bindir/$prog" "$n" ;;
  esac
  [ "$w" = loops ] && set -- "$@" "$sub"
  [ "$impl" = delay_then ] && set -- "$@" delay_then
  [ "$w" = tcp_echo ] && set -- "$@" 1
  [ "$w" = tcp_echo_100 ] && set -- "$@" 100
  if [ "$w" = fs_fanout ] || [ "$sub" = fs_fanout ]; then
    set -- "$@" "$tmp/files"
  fi
  [ "$w" = tree_walk ] && set -- "$@" "$tree_dir"

  echo "$@"
}

for w in $workloads; do
  case $w in
    chain_built | chain_loop | await_loop | fs_fanout | timers | heartbeat | loops | tcp_echo | tcp_echo_100 | tree_walk) ;;
    *) die "unknown workload $w" ;;
  esac
  progs=
  for impl in future pipeline tight heap raw du; do
    progs="$progs $(program_for "$w" "$impl")"
  done
  [ "$w" = tree_walk ] && progs="$progs tree_walk_make"

  [ "$w" = await_loop ] && progs="$progs switch_cost"
  for p in $progs; do
    [ -x "$bindir/$p" ] || die "$bindir/$p not built (run \`make bench')"
  done
done

# Run command $2... in round $1, keeping its result lines.
run_one() {
  rnd=$1
  shift
  if out=$("$@" 2>"$tmp/stderr"); then
    printf '%s\n' "$out" | while IFS= read -r line; do
      echo "$line round=$rnd" >>"$results"
      echo "[$rnd/$runs] $line" >&2
    done
  else
    status=1
    echo "[$rnd/$runs] FAILED: $*" >&2
    sed 's/^/    /' "$tmp/stderr" >&2
  fi
}

# fs_fanout and loops read files: as many as the larger of the two needs.
files_n=0 fds_n=0
case " $workloads " in
  *" fs_fanout "*) files_n=$fs_n fds_n=$fs_n ;;
esac
case " $workloads " in
  *" loops "*)
    [ "$loops_fs_n" -gt "$files_n" ] && files_n=$loops_fs_n
    # Four loops, each with all its files open at once.
    [ $((4 * loops_fs_n)) -gt "$fds_n" ] && fds_n=$((4 * loops_fs_n))
    ;;
esac
if [ "$files_n" -gt 0 ]; then
  [ "$files_n" -le 100000 ] ||
    die "BENCH_FS_N and BENCH_LOOPS_FS_N are at most 100000"
  # All files are open at once: make sure the descriptors suffice
  # (ulimit -H is not POSIX, but dash and bash have it).
  hard=$(ulimit -Hn 2>/dev/null || echo unlimited)
  if [ "$hard" != unlimited ] && [ "$hard" -lt $((fds_n + 64)) ]; then
    die "fs_fanout and loops need $((fds_n + 64)) file descriptors (ulimit -Hn: $hard)"
  fi
  ulimit -n "$hard" 2>/dev/null || true
  echo "Making $files_n files of 4 KiB in $tmp/files ..." >&2
  mkdir "$tmp/files" || exit 1
  head -c $((4096 * files_n)) /dev/urandom |
    split -d -a 5 -b 4096 - "$tmp/files/f" || die "cannot make the files"
  # Read them once, so that every run finds a warm page cache.
  find "$tmp/files" -type f -exec cat {} + >/dev/null
fi

# tree_walk walks one tree, made once (or BENCH_TREE_DIR as it is), read
# once before the runs so that every run finds a warm cache.
case " $workloads " in
  *" tree_walk "*)
    if [ -z "$tree_dir" ]; then
      tree_dir=$tmp/tree
      echo "Making a tree of $tree_n entries in $tree_dir ..." >&2
      "$bindir/tree_walk_make" "$tree_dir" "$tree_n" ||
        die "cannot make the tree"
    else
      # A tree of its own: every program's n is its number of entries.
      tree_n=$(find "$tree_dir" -xdev -mindepth 1 2>/dev/null | wc -l)
      [ "$tree_n" -gt 0 ] || die "$tree_dir has no entries"
    fi
    du -s -B1 "$tree_dir" >/dev/null 2>&1 || die "du -s -B1 $tree_dir failed"
    ;;
esac

results=$tmp/results
: >"$results"
status=0
r=1
while [ "$r" -le "$runs" ]; do
  # Alternate the implementations, and rotate their order from one round
  # to the next, so that slow drifts of the machine hit them all alike.
  order=$impls
  k=1
  while [ "$k" -lt "$r" ]; do
    set -- $order
    first=$1
    shift
    order="$* $first"
    k=$((k + 1))
  done
  for w in $workloads; do
    subs=-
    [ "$w" = loops ] && subs="chain_loop fs_fanout"
    for sub in $subs; do
      for impl in $order; do
        cmd=$(command_for "$w" "$impl" "$sub")
        [ -n "$cmd" ] || continue
        run_one "$r" $cmd
      done
    done
    # What a switch costs, next to what an await costs (three lines:
    # call, switch, fiber).
    [ "$w" = await_loop ] && run_one "$r" "$bindir/switch_cost" "$switch_n"
  done
  r=$((r + 1))
done

# Median of key $3 over the runs of workload $1, implementation $2.
med() {
  grep "^workload=$1 impl=$2 " "$results" | field "$3" | median
}

# ns_per_op of the result line on stdin; with "cpu" as $1, the CPU time
# per op (cpu_ns_per_op if the line has it, as loops' do, else cpu_s / n).
per_op() {
  if [ "${1:-}" = cpu ]; then
    awk '{
      for (i = 1; i <= NF; i++) {
        p = index($i, "=")
        if (p > 0) v[substr($i, 1, p - 1)] = substr($i, p + 1)
      }
      if ("cpu_ns_per_op" in v) print v["cpu_ns_per_op"]
      else if (v["n"] + 0 > 0) print v["cpu_s"] * 1e9 / v["n"]
    }'
  else
    field ns_per_op
  fi
}

# How many times the ns/op of the result lines starting with $2 those
# starting with $1 take (e.g. $1 "workload=timers impl=future ", $2
# "workload=timers impl=tight "): the median over the rounds of the ratio
# within a round. The implementations of a workload run back to back
# within a round, so that a machine that changes speed between rounds (a
# shared VM does, by a factor of up to 1.7 here) shifts both sides of each
# ratio alike; a ratio of medians would mix fast rounds of one with slow
# rounds of the other. With "cpu" as $3, of the CPU time per op instead.
ratio_lines() {
  rr=1
  while [ "$rr" -le "$runs" ]; do
    a=$(grep "^$1.* round=$rr\$" "$results" | per_op "${3:-}")
    b=$(grep "^$2.* round=$rr\$" "$results" | per_op "${3:-}")
    [ -n "$a" ] && [ -n "$b" ] &&
      awk -v a="$a" -v b="$b" 'BEGIN { if (b + 0 > 0) print a / b }'
    rr=$((rr + 1))
  done | median | awk '{ if ($1 == "-") print "-"; else printf "%.2fx\n", $1 }'
}

# The same for workload $1 implementation $2 against workload $3
# implementation $4; "cpu" as $5 for the CPU time per op.
ratio2() {
  ratio_lines "workload=$1 impl=$2 " "workload=$3 impl=$4 " "${5:-}"
}

echo
echo "libfuture benchmarks: medians of $runs runs ($(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -m), $(nproc 2>/dev/null || echo '?') cores)"
[ -n "$node" ] && echo "Node.js: $("$node" --version)"
main_table=
for w in $workloads; do
  case $w in heartbeat | loops) ;; *) main_table=yes ;; esac
done
if [ -n "$main_table" ]; then
  echo "future: libfuture; tight: the tightest hand-written libuv program;"
  echo "raw: the callback-style floor; node: Node.js (node_cb: fs.readFile's"
  echo "callback in a promise). ns/op is wall time per item, but CPU time per"
  echo "timer for timers; bytes/op is resident memory per pending item"
  echo "(README.md says how). /tight: this row's ns/op over the tight floor's"
  echo "(await_loop: over a tight chain_loop hop); cpu/tight: the same of CPU"
  echo "time per item; future/this: libfuture's ns/op over this row's. Each"
  echo "ratio is the median of the ratios within each round."
  echo
  fmt='%-12s %-7s %9s %9s %8s %10s %8s %8s %9s %11s\n'
  printf "$fmt" workload impl "wall s" "cpu s" "RSS MiB" "ns/op" \
    "bytes/op" "/tight" "cpu/tight" "future/this"
  for w in $workloads; do
    case $w in heartbeat | loops) continue ;; esac
    ref=$w
    [ "$w" = await_loop ] && ref=chain_loop
    for impl in $impls; do
      wall=$(med "$w" "$impl" wall_s)
      [ "$wall" = - ] && continue
      cpu=$(med "$w" "$impl" cpu_s)
      rss=$(med "$w" "$impl" maxrss_kib)
      nsop=$(med "$w" "$impl" ns_per_op)
      bop=$(med "$w" "$impl" bytes_per_op)
      rt=$(ratio2 "$w" "$impl" "$ref" tight)
      rtc=$(ratio2 "$w" "$impl" "$ref" tight cpu)
      rf=-
      [ "$impl" = future ] || rf=$(ratio2 "$w" future "$w" "$impl")
      printf "$fmt" "$w" "$impl" \
        "$(awk -v v="$wall" 'BEGIN { printf "%.4f", v }')" \
        "$(awk -v v="$cpu" 'BEGIN { printf "%.4f", v }')" \
        "$(awk -v v="$rss" 'BEGIN { printf "%.1f", v / 1024 }')" \
        "$(awk -v v="$nsop" 'BEGIN { printf "%.1f", v }')" \
        "$(awk -v v="$bop" 'BEGIN { printf "%.0f", v }')" \
        "$rt" "$rtc" "$rf"
    done
  done
fi

case " $workloads " in
  *" await_loop "*)
    echo
    echo "await_loop against chain_loop: an await is one trip through the run"
    echo "queue, as a hop is, plus two switches of stack (medians of the"
    echo "ratios within each round, of ns/op (wall) and of CPU time per op;"
    echo "the targets are on wall time, the CPU column helps on a loaded machine)"
    echo
    afmt='  %-34s %8s %8s%s\n'
    printf "$afmt" "" wall cpu 
    # A ratio and whether it is at most (or below) a target.
    verdict() {
      awk -v r="$1" -v t="$2" -v strict="$3" 'BEGIN {
        sub(/x$/, "", r)
        if (r == "-") print ""
        else if ((strict && r + 0 < t) || (!strict && r + 0 <= t)) print "met"
        else print "NOT met"
      }'
    }
    hop=$(ratio2 await_loop future chain_loop future)
    printf "$afmt" "await / libfuture chain_loop hop" "$hop" \
      "$(ratio2 await_loop future chain_loop future cpu)" \
      "   target: at most 2x ($(verdict "$hop" 2 0))"
    printf "$afmt" "await / tight chain_loop hop" \
      "$(ratio2 await_loop future chain_loop tight)" \
      "$(ratio2 await_loop future chain_loop tight cpu)" ""
    printf "$afmt" "await / raw chain_loop hop" \
      "$(ratio2 await_loop future chain_loop raw)" \
      "$(ratio2 await_loop future chain_loop raw cpu)" ""
    if [ -n "$node" ]; then
      an=$(ratio2 await_loop future await_loop node)
      printf "$afmt" "await / Node.js await" "$an" \
        "$(ratio2 await_loop future await_loop node cpu)" \
        "   target: below 1x ($(verdict "$an" 1 1))"
      printf "$afmt" "Node.js await / Node.js hop" \
        "$(ratio2 await_loop node chain_loop node)" \
        "$(ratio2 await_loop node chain_loop node cpu)" ""
    fi
    echo
    echo "switch_cost: ns per call, and per round trip of the fiber switch"
    echo "(two switches), bare and as future_await makes it (n=$switch_n)"
    echo
    sfmt='%-12s %-7s %10s %10s %11s\n'
    printf "$sfmt" workload impl "ns/op" "cpu ns/op" "/call"
    for impl in call switch fiber; do
      nsop=$(med switch_cost "$impl" ns_per_op)
      [ "$nsop" = - ] && continue
      cpu=$(med switch_cost "$impl" cpu_s)
      rc=-
      [ "$impl" = call ] || rc=$(ratio2 switch_cost "$impl" switch_cost call)
      printf "$sfmt" switch_cost "$impl" \
        "$(awk -v v="$nsop" 'BEGIN { printf "%.1f", v }')" \
        "$(awk -v v="$cpu" -v n="$switch_n" 'BEGIN { printf "%.1f", v * 1e9 / n }')" \
        "$rc"
    done
    ;;
esac

case " $workloads " in
  *" tree_walk "*)
    echo
    echo "tree_walk: the total size of a tree of $tree_n entries (du -s -B1's"
    echo "figure), libfuture the way examples/fdu walks (future_map of"
    echo "future_fs_scandir_stat, 64 at once), against the tight floor (a"
    echo "uv_queue_work per directory), Node.js (fs.promises readdir + lstat)"
    echo "and du -s -B1; medians of the ratios within each round"
    echo
    tfmt='  %-18s %8s %8s%s\n'
    printf "$tfmt" "" wall cpu ""
    tverdict() {
      awk -v r="$1" -v t="$2" 'BEGIN {
        sub(/x$/, "", r)
        if (r == "-") print ""
        else if (r + 0 <= t) print "met"
        else print "NOT met"
      }'
    }
    tdu=$(ratio2 tree_walk future tree_walk du)
    printf "$tfmt" "future / du" "$tdu" "$(ratio2 tree_walk future tree_walk du cpu)" \
      "   target: at most 1x in wall time ($(tverdict "$tdu" 1))"
    printf "$tfmt" "future / tight" "$(ratio2 tree_walk future tree_walk tight)" \
      "$(ratio2 tree_walk future tree_walk tight cpu)" ""
    printf "$tfmt" "tight / du" "$(ratio2 tree_walk tight tree_walk du)" \
      "$(ratio2 tree_walk tight tree_walk du cpu)" ""
    if [ -n "$node" ]; then
      printf "$tfmt" "node / du" "$(ratio2 tree_walk node tree_walk du)" \
        "$(ratio2 tree_walk node tree_walk du cpu)" ""
    fi
    # Every program must have found the same total.
    totals=$(grep '^workload=tree_walk ' "$results" | field bytes | sort -u)
    if [ "$(printf '%s\n' "$totals" | wc -l)" -ne 1 ]; then
      echo "  the programs disagree on the total: $(echo $totals)"
      status=1
    else
      echo "  every program found $totals bytes"
    fi
    ;;
esac

case " $workloads " in
  *" heartbeat "*)
    echo
    echo "heartbeat: largest gap between 10 ms beats while $work_ms ms of CPU work"
    echo "runs on the loop's thread (loop) or on the thread pool (pool), median ms"
    echo
    hfmt='%-12s %-7s %12s %12s\n'
    printf "$hfmt" workload impl "loop gap ms" "pool gap ms"
    for impl in $impls; do
      lg=$(med heartbeat "$impl" loop_gap_ms)
      [ "$lg" = - ] && continue
      pg=$(med heartbeat "$impl" pool_gap_ms)
      printf "$hfmt" heartbeat "$impl" \
        "$(awk -v v="$lg" 'BEGIN { printf "%.1f", v }')" \
        "$(awk -v v="$pg" 'BEGIN { printf "%.1f", v }')"
    done
    ;;
esac

case " $workloads " in
  *" loops "*)
    echo
    echo "loops: chain_loop ($loops_chain_n hops a loop) and fs_fanout"
    echo "($loops_fs_n files a loop) on 1, 2 and 4 libuv loops at once, one"
    echo "thread each, every loop doing the whole workload. Mops/s (ops/s for"
    echo "fs_fanout) is the total throughput, ns/op its inverse, cpu ns/op the"
    echo "CPU time (all threads) per op; scaling: the throughput over that of"
    echo "1 loop, in the same run; /tight, cpu/tight: libfuture over the tight"
    echo "floor with as many loops. Medians over the rounds."
    echo
    lfmt='%-12s %-7s %5s %12s %10s %10s %8s %8s %9s\n'
    printf "$lfmt" sub impl loops "throughput" "ns/op" "cpu ns/op" scaling \
      "/tight" "cpu/tight"
    for sub in chain_loop fs_fanout; do
      for impl in future tight; do
        for k in 1 2 4; do
          sel="workload=loops impl=$impl sub=$sub loops=$k "
          tput=$(grep "^$sel" "$results" | field ops_per_s | median)
          [ "$tput" = - ] && continue
          nsop=$(grep "^$sel" "$results" | field ns_per_op | median)
          cns=$(grep "^$sel" "$results" | field cpu_ns_per_op | median)
          sc=$(ratio_lines "workload=loops impl=$impl sub=$sub loops=1 " "$sel")
          rt=- rtc=-
          if [ "$impl" = future ]; then
            tsel="workload=loops impl=tight sub=$sub loops=$k "
            rt=$(ratio_lines "$sel" "$tsel")
            rtc=$(ratio_lines "$sel" "$tsel" cpu)
          fi
          printf "$lfmt" "$sub" "$impl" "$k" \
            "$(awk -v v="$tput" -v s="$sub" 'BEGIN {
              if (s == "fs_fanout") printf "%.0f/s", v
              else printf "%.1fM/s", v / 1e6 }')" \
            "$(awk -v v="$nsop" 'BEGIN { printf "%.1f", v }')" \
            "$(awk -v v="$cns" 'BEGIN { printf "%.1f", v }')" \
            "$sc" "$rt" "$rtc"
        done
      done
    done
    ;;
esac

[ "$status" -eq 0 ] || echo "run.sh: some runs failed (see above)" >&2
exit $status
