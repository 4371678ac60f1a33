#!/bin/sh
# Mutation testing: does the test suite notice when the library is wrong?
#
# Each mutant is one small change to one line of src/ (a flipped
# comparison, a deleted statement, a changed constant), listed in
# test/mutants.txt. For each, this script applies the change to a copy of
# the source tree, rebuilds, and runs the Check runner under a time
# limit: a test that fails (or crashes, leaks under the sanitizers, or
# hangs) "kills" the mutant. A mutant that survives is a behaviour no test
# pins down, unless it is equivalent (the change cannot alter what the
# program does); equivalent mutants say so in the list, with the reason,
# and are not counted.
#
#   make mutation                      all mutants (slow: see below)
#   make mutation MUTANTS_ONLY='M0[0-4]'   the ids matching a grep pattern
#   make mutation MUTATION_RESUME=1    continue an interrupted run
#   test/mutate.sh --generate src/chain.c  candidate mutants for a file,
#                                          in the list's format, to curate
#   test/mutate.sh --check                 every listed mutant still applies
#
# `make mutation` copies the distributed tree (make distdir) into
# mutation-work/tree, configures it with MUTATION_CONFIGURE (by default
# --enable-sanitizers, so that leaks and memory errors a mutant causes
# count as failures), builds it once, then for each mutant: applies it,
# rebuilds (one object and the test runner), runs first the suites that
# test the mutated file (fast), with the library's pool of futures, and
# the whole runner only if they pass, as `make check` runs it (the pool
# is then off under the sanitizers, which see each future).
# Results go to mutation-work/results.txt; the score is
# killed / (killed + survived), equivalent and stillborn (did not compile)
# mutants aside. The script fails when the score is below MUTATION_MIN
# (95 by default) or when a mutant listed as equivalent is killed (then
# it was not equivalent: take the note off).
#
# The list's format, one mutant a line ('#' starts a comment line):
#
#   ID FILE[@N] ORIGINAL ==> REPLACEMENT [## equivalent: REASON]
#
# ORIGINAL is a piece of one line of FILE, matched as plain text: it must
# occur exactly once in the file, or FILE@N picks its N-th occurrence.
# REPLACEMENT takes its place (an empty replacement deletes it).
set -eu

srcdir="${top_srcdir:-.}"
mutants="${MUTANTS:-$srcdir/test/mutants.txt}"
work="${MUTATION_WORK:-mutation-work}"
only="${MUTANTS_ONLY:-.}"
limit="${MUTATION_TIMEOUT:-600}"
min="${MUTATION_MIN:-95}"
run_equivalent="${MUTATION_RUN_EQUIVALENT:-0}"
MAKE="${MAKE:-make}"

# Apply mutant line $1 (the whole list line) to file $2 in place; exit 1
# when ORIGINAL does not occur as the list says.
apply() {
  # The line travels in the environment: awk -v would expand its escapes.
  MUTATE_SPEC="$1" awk '
    BEGIN {
      spec = ENVIRON["MUTATE_SPEC"]
      n = split(spec, f, " ")
      target = f[2]
      occ = 0
      if (index(target, "@") > 0) {
        occ = substr(target, index(target, "@") + 1) + 0
      }
      rest = substr(spec, index(spec, f[2]) + length(f[2]) + 1)
      sub(/^[ \t]+/, "", rest)
      cut = index(rest, " ==> ")
      if (cut == 0) { print "mutate: no \" ==> \" in: " spec > "/dev/stderr"; exit 2 }
      orig = substr(rest, 1, cut - 1)
      repl = substr(rest, cut + 5)
      note = index(repl, " ## ")
      if (note > 0) repl = substr(repl, 1, note - 1)
      sub(/[ \t]+$/, "", repl)
      seen = 0
    }
    { lines[NR] = $0 }
    END {
      if (orig == "") exit 2
      # Count the occurrences, and find the one to change.
      for (i = 1; i <= NR; i++) {
        s = lines[i]; off = 0
        while ((p = index(s, orig)) > 0) {
          seen++
          if ((occ == 0 && seen == 1) || seen == occ) { li = i; lp = off + p }
          off += p + length(orig) - 1
          s = substr(s, p + length(orig))
        }
      }
      if (seen == 0 || (occ == 0 && seen > 1) || (occ > 0 && occ > seen)) {
        printf "mutate: \"%s\" occurs %d times\n", orig, seen > "/dev/stderr"
        exit 1
      }
      l = lines[li]
      lines[li] = substr(l, 1, lp - 1) repl substr(l, lp + length(orig))
      for (i = 1; i <= NR; i++) print lines[i]
    }' "$2" > "$2.mutant" && mv "$2.mutant" "$2"
}

# The suites that test each source file, run first (a mutant they kill
# costs seconds; only survivors pay for the whole runner).
suites_for() {
  case "$1" in
    src/alloc.c) echo "alloc" ;;
    src/async.c | src/fiber.c) echo "async" ;;
    src/cancel.c) echo "cancel chain aplus" ;;
    src/chain.c) echo "chain aplus" ;;
    src/combine.c) echo "combine" ;;
    src/error.c) echo "error" ;;
    src/fs_copy.c) echo "fs_copy" ;;
    src/fs*.c) echo "fs fs_file fs_tree" ;;
    src/future.c) echo "future aplus chain" ;;
    src/loop.c) echo "loop wait resolver stress stream" ;;
    src/map.c) echo "map" ;;
    src/pipeline.c) echo "pipeline" ;;
    src/process.c) echo "process" ;;
    src/udp.c) echo "udp" ;;
    src/resolver.c) echo "resolver stress" ;;
    src/retry.c) echo "retry" ;;
    src/stream.c) echo "stream" ;;
    src/timer.c) echo "timer" ;;
    src/trace.c) echo "trace" ;;
    src/wait.c) echo "wait stress" ;;
    src/work.c) echo "work" ;;
    *) echo "" ;;
  esac
}

# Candidate mutants for one file: the usual operators, one per line and
# place, with the whole (trimmed) line as ORIGINAL so that it is usually
# unique. Comments and preprocessor lines are skipped.
generate() {
  awk -v file="$1" '
    function count(s, t,    c, p) {
      c = 0
      while ((p = index(s, t)) > 0) { c++; s = substr(s, p + length(t)) }
      return c
    }
    # ORIGINAL is the whole trimmed line; @N when it occurs more than once.
    function emit(i, orig, repl,    k, before, total, target) {
      before = 0; total = 0
      for (k = 1; k <= NR; k++) {
        total += count(lines[k], orig)
        if (k < i) before += count(lines[k], orig)
      }
      target = total > 1 ? file "@" (before + 1) : file
      printf "G%03d %s %s ==> %s\n", ++n, target, orig, repl
    }
    function swap(i, line, a, b,    p) {
      p = index(line, a)
      if (p > 0)
        emit(i, line, substr(line, 1, p - 1) b substr(line, p + length(a)))
    }
    { lines[NR] = $0 }
    END {
      for (i = 1; i <= NR; i++) {
        if (lines[i] ~ /^[ \t]*(\/\*|\*|\/\/|#)/) continue
        t = lines[i]; sub(/^[ \t]+/, "", t); sub(/[ \t]+$/, "", t)
        if (t == "" || t == "{" || t == "}" || t ~ /^}/) continue
        swap(i, t, "==", "!="); swap(i, t, "!=", "==")
        swap(i, t, " <= ", " < "); swap(i, t, " >= ", " > ")
        swap(i, t, " < ", " <= "); swap(i, t, " > ", " >= ")
        swap(i, t, "&&", "||"); swap(i, t, "||", "&&")
        swap(i, t, " + 1", " - 1"); swap(i, t, " - 1", " + 1")
        swap(i, t, "return 0;", "return 1;")
        swap(i, t, "return 1;", "return 0;")
        if (t ~ /^[a-z_][a-z_0-9>.-]*\(.*\);$/ || t ~ /^[a-z_>.-]+(\+\+|--);$/)
          emit(i, t, "(void)0;")
      }
    }' "$1"
}

if [ "${1:-}" = "--check" ]; then
  # Only check that every mutant of the list applies to the sources.
  status=0
  grep -v '^[[:space:]]*#' "$mutants" | grep -v '^[[:space:]]*$' |
    while IFS= read -r spec; do
      target=$(printf '%s\n' "$spec" | awk '{print $2}')
      cp "$srcdir/${target%@*}" "${TMPDIR:-/tmp}/mutate-check.c"
      apply "$spec" "${TMPDIR:-/tmp}/mutate-check.c" ||
        { printf 'mutate: does not apply: %s\n' "$spec" >&2; exit 1; }
    done || status=1
  rm -f "${TMPDIR:-/tmp}/mutate-check.c"
  [ "$status" = 0 ] && echo "mutate: every mutant of $mutants applies"
  exit $status
fi

if [ "${1:-}" = "--generate" ]; then
  shift
  for f in "$@"; do
    generate "$f"
  done
  exit 0
fi

tree="$work/tree"
if [ ! -f "$tree/configure" ]; then
  echo "mutate: no $tree: run it through 'make mutation'" >&2
  exit 2
fi
results="$work/results.txt"
log="$work/build.log"
# `make mutation MUTATION_RESUME=1` continues an interrupted run: the
# verdicts of its results (kept as previous.txt) stand, and only the
# mutants without one run. Meant for the same tree: the sources and the
# list must not have changed in between.
previous="$work/previous.txt"
[ -f "$previous" ] || : > "$previous"
: > "$results"

total=0 killed=0 survived=0 equivalent=0 stillborn=0 bad_equivalent=0
survivors=""
grep -v '^[[:space:]]*#' "$mutants" | grep -v '^[[:space:]]*$' |
  grep -e "$only" > "$work/selected.txt" || true

# Every mutant must apply before any is run: a list that no longer
# matches src/ is an error, not a silent skip.
while IFS= read -r spec; do
  target=$(printf '%s\n' "$spec" | awk '{print $2}')
  cp "$tree/${target%@*}" "$work/check.c"
  if ! apply "$spec" "$work/check.c"; then
    printf 'mutate: does not apply: %s\n' "$spec" >&2
    exit 2
  fi
done < "$work/selected.txt"
echo "mutate: $(wc -l < "$work/selected.txt") mutants apply; running them"

echo "mutate: configuring and building $tree" \
  "(configure ${MUTATION_CONFIGURE---enable-sanitizers})"
(
  cd "$tree"
  # shellcheck disable=SC2086
  ./configure ${MUTATION_CONFIGURE---enable-sanitizers} > /dev/null
  $MAKE -j2 libfuture.la test/check_future > /dev/null
) > "$log" 2>&1 || { echo "mutate: the unmutated tree does not build: $log" >&2; exit 2; }
echo "mutate: the unmutated suite must pass first, with and without the pool"
for pool in 0 1; do
  if ! (cd "$tree" && CK_VERBOSITY=silent FUTURE_POOL=$pool \
        timeout "$limit" ./test/check_future) >> "$log" 2>&1; then
    echo "mutate: the suite fails without any mutant (FUTURE_POOL=$pool): $log" >&2
    exit 2
  fi
done


while IFS= read -r spec; do
  id=$(printf '%s\n' "$spec" | awk '{print $1}')
  target=$(printf '%s\n' "$spec" | awk '{print $2}')
  file=${target%@*}
  is_equivalent=0
  case "$spec" in *" ## equivalent:"*) is_equivalent=1 ;; esac
  total=$((total + 1))
  prev=$(awk -v id="$id" '$1 == id { sub(/^[^ ]+ /, ""); print; exit }' \
    "$previous")
  if [ -n "$prev" ]; then
    echo "$id $prev" >> "$results"
    case "$prev" in
      "equivalent (not run)"* | "survived (equivalent)"*)
        equivalent=$((equivalent + 1)) ;;
      killed*)
        killed=$((killed + 1))
        if [ "$is_equivalent" = 1 ]; then
          bad_equivalent=$((bad_equivalent + 1))
          printf '%s KILLED although listed as equivalent: %s\n' "$id" "$spec"
        fi ;;
      survived*)
        survived=$((survived + 1))
        survivors="$survivors
  $spec" ;;
      stillborn*) stillborn=$((stillborn + 1)) ;;
    esac
    continue
  fi
  if [ "$is_equivalent" = 1 ] && [ "$run_equivalent" != 1 ]; then
    equivalent=$((equivalent + 1))
    echo "$id equivalent (not run)" >> "$results"
    continue
  fi
  cp "$tree/$file" "$work/pristine"
  if ! apply "$spec" "$tree/$file"; then
    echo "mutate: $id does not apply to $file (fix the list)" >&2
    cp "$work/pristine" "$tree/$file"
    exit 2
  fi
  start=$(date +%s)
  verdict=survived
  how=""
  if ! (cd "$tree" && $MAKE libfuture.la test/check_future) \
       < /dev/null > "$log" 2>&1; then
    verdict=stillborn
  else
    # The targeted suites run the library as users do, with its pool of
    # futures (which the sanitizers would otherwise switch off); the whole
    # runner then runs as `make check` does in this build, without
    # FUTURE_POOL: the library then leaves the pool off under the
    # sanitizers, which see every future.
    for s in $(suites_for "$file"); do
      if ! (cd "$tree" && CK_RUN_SUITE=$s CK_VERBOSITY=silent FUTURE_POOL=1 \
            timeout "$limit" ./test/check_future) \
           < /dev/null > /dev/null 2>&1; then
        verdict=killed
        how="suite $s"
        break
      fi
    done
    if [ "$verdict" = survived ] &&
       ! (cd "$tree" && unset FUTURE_POOL && CK_VERBOSITY=silent \
          timeout "$limit" ./test/check_future) \
         < /dev/null > /dev/null 2>&1; then
      verdict=killed
      how="whole runner"
    fi
  fi
  cp "$work/pristine" "$tree/$file"
  secs=$(( $(date +%s) - start ))
  case "$verdict" in
    killed)
      if [ "$is_equivalent" = 1 ]; then
        bad_equivalent=$((bad_equivalent + 1))
        printf '%s KILLED although listed as equivalent (%s): %s\n' "$id" "$how" "$spec"
      fi
      killed=$((killed + 1)) ;;
    survived)
      if [ "$is_equivalent" = 1 ]; then
        equivalent=$((equivalent + 1))
        verdict="survived (equivalent)"
      else
        survived=$((survived + 1))
        survivors="$survivors
  $spec"
        printf '%s SURVIVED: %s\n' "$id" "$spec"
      fi ;;
    stillborn) stillborn=$((stillborn + 1)) ;;
  esac
  echo "$id $verdict ${how:+($how) }${secs}s" >> "$results"
done < "$work/selected.txt"
# Leave the tree as it was built, unmutated.
(cd "$tree" && $MAKE libfuture.la test/check_future) > "$log" 2>&1 || true

counted=$((killed + survived))
score=$(awk -v k="$killed" -v c="$counted" 'BEGIN { printf "%.1f", c ? 100 * k / c : 100 }')
echo "mutate: $total mutants: $killed killed, $survived survived," \
  "$equivalent equivalent (not counted), $stillborn stillborn"
echo "mutate: score $killed/$counted = $score% (results: $results)"
if [ -n "$survivors" ]; then
  printf 'mutate: survivors (behaviours no test pins down):%s\n' "$survivors"
fi
status=0
if [ "$bad_equivalent" -gt 0 ]; then
  echo "mutate: $bad_equivalent mutant(s) listed as equivalent were killed" >&2
  status=1
fi
if awk -v s="$score" -v m="$min" 'BEGIN { exit !(s < m) }'; then
  echo "mutate: the score is below $min%" >&2
  status=1
fi
exit $status
