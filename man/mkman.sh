#!/bin/sh
# Make the man pages from the headers, so that they cannot drift from them.
#
#   sh man/mkman.sh SRCDIR PAGE     write man page PAGE (section 3) to stdout
#   sh man/mkman.sh SRCDIR --names  list "NAME PAGE" for every function and
#                                   function-like macro (make install makes
#                                   a NAME.3 that sources PAGE.3 for each)
#
# PAGE is one of
#   libfuture        the overview: man/libfuture.3.in, with the version,
#                    the date, the README's twenty-line example and the
#                    places filled in;
#   libfuture-core   include/future.h;
#   libfuture-fs     include/future/fs.h;
#   libfuture-async  include/future/async.h;
#   libfuture-dns    include/future/dns.h;
#   libfuture-signal include/future/signal.h;
#   libfuture-watch  include/future/watch.h;
#   libfuture-process include/future/process.h;
#   libfuture-udp    include/future/udp.h;
#   libfuture-stream include/future/stream.h.
#
# A header's page is its opening comment (DESCRIPTION), a SYNOPSIS of its
# functions, then every documented declaration in the header's order: a
# doc comment (/** ... */) documents the declarations that follow it up to
# the next blank line, and the group comments (/* core */) become sections.
# In the comments, a line in capitals alone is a heading, a paragraph
# indented by four spaces or more is code, "1." and "-" start list items,
# `x` is an argument (italics), and @return and @since are tags.
#
# The version is the header's (FUTURE_VERSION_*), the date that of NEWS's
# top entry. DOCDIR and BUGREPORT, from the environment, say where the
# documentation is installed and where to report bugs.
# Plain sh and awk: no other tool is needed to build the pages.
set -eu

if [ $# -ne 2 ]; then
  echo "usage: $0 SRCDIR PAGE|--names" >&2
  exit 2
fi
src=$1
page=$2

version=$(awk '/^#define FUTURE_VERSION_MAJOR /{ M = $3 }
  /^#define FUTURE_VERSION_MINOR /{ m = $3 }
  /^#define FUTURE_VERSION_PATCH /{ p = $3 }
  END { if (M != "" && m != "" && p != "") printf "%s.%s.%s", M, m, p }' \
  "$src/include/future.h")
# The date in parentheses of NEWS's first "## X.Y.Z (date)" line.
date=$(sed -n 's/^## [0-9][0-9.]* *(\(.*\)).*$/\1/p' "$src/NEWS" | head -n 1)
docdir=${DOCDIR:-/usr/local/share/doc/libfuture}
bugs=${BUGREPORT:-}

# page header description default-section
pages='libfuture-core	include/future.h	the core of libfuture: futures, errors, continuations, cancellation, timers, work, threads, composition, waiting	API
libfuture-fs	include/future/fs.h	the file system as futures	API
libfuture-async	include/future/async.h	fibers and await	FIBERS AND AWAIT
libfuture-dns	include/future/dns.h	name resolution and random bytes as futures	API
libfuture-signal	include/future/signal.h	signals as futures	API
libfuture-watch	include/future/watch.h	watching files as futures	API
libfuture-process	include/future/process.h	child processes as futures	API
libfuture-udp	include/future/udp.h	UDP sockets as futures	API
libfuture-stream	include/future/stream.h	streams (TCP, pipes, TTYs) as futures	API'

# The common awk functions: roff escapes and the paragraph renderer.
render_awk='
function esc(s) {
  gsub(/\\/, "\\e", s)
  return s
}
# Text in a filled paragraph: escapes, `arg` in italics, a leading - as a
# minus sign (-1, --enable-debug).
function text(s,   out, i, c, prev) {
  s = esc(s)
  out = ""
  prev = " "
  for (i = 1; i <= length(s); i++) {
    c = substr(s, i, 1)
    if (c == "-" && (prev == " " || prev == "(" || prev == "`" || prev == "-"))
      out = out "\\-"
    else
      out = out c
    prev = c
  }
  s = out
  out = ""
  while (match(s, /`[^`]+`/)) {
    out = out substr(s, 1, RSTART - 1) "\\fI" substr(s, RSTART + 1, RLENGTH - 2) "\\fR"
    s = substr(s, RSTART + RLENGTH)
  }
  return out s
}
# A line of code in a no-fill block.
function code(s) {
  s = esc(s)
  gsub(/-/, "\\-", s)
  return s
}
function emit(s) {
  if (s ~ /^[.\047]/) s = "\\&" s
  print s
}
# Render the paragraphs of comment text held in lines L[1..n] (the comment
# markers removed, indentation kept). heads: lines in capitals alone make
# subsections.
function render(L, n, heads,   i, j, line, ind, para, np, P, k, t, m) {
  i = 1
  while (i <= n) {
    while (i <= n && L[i] ~ /^[ \t]*$/) i++
    if (i > n) break
    np = 0
    while (i <= n && L[i] !~ /^[ \t]*$/) P[++np] = L[i++]
    match(P[1], /^ */)
    ind = RLENGTH
    t = P[1]
    sub(/^ +/, "", t)
    if (heads && np == 1 && t ~ /^[A-Z][A-Z ]*[A-Z]( \(.*\))?$/) {
      print ".SS \"" t "\""
      continue
    }
    if (ind >= 4 && t !~ /^([0-9]+\.|-) /) {
      print ".PP"
      print ".RS 4"
      print ".nf"
      for (k = 1; k <= np; k++) {
        line = P[k]
        line = substr(line, ind + 1)
        emit(code(line))
      }
      print ".fi"
      print ".RE"
      continue
    }
    print ".PP"
    for (k = 1; k <= np; k++) {
      t = P[k]
      sub(/^ +/, "", t)
      if (t ~ /^[0-9]+\. /) {
        m = t
        sub(/ .*/, "", m)
        print ".IP " m " 4"
        sub(/^[0-9]+\. +/, "", t)
      } else if (t ~ /^- /) {
        print ".IP \\(bu 2"
        sub(/^- +/, "", t)
      } else if (t ~ /^@return/) {
        print ".PP"
        sub(/^@return +/, "", t)
        t = "\001Returns:\002 " t
      } else if (k == 1 && match(t, /^[A-Z][A-Z]+( [A-Z][A-Z]+)*[. ]/) && RLENGTH > 5) {
        t = "\001" substr(t, 1, RLENGTH - 1) "\002" substr(t, RLENGTH)
      }
      t = text(t)
      gsub(/\001/, "\\fB", t)
      gsub(/\002/, "\\fR", t)
      emit(t)
    }
  }
}
'

# --names: the functions and function-like macros of every header.
if [ "$page" = --names ]; then
  echo "$pages" | while IFS='	' read -r name header desc def; do
    awk -v page="$name" '
      /^FUTURE_EXTERN/ {
        d = $0
        while (d !~ /\(/ && (getline more) > 0) d = d " " more
        sub(/\(.*/, "", d)
        n = split(d, w, /[ \t*]+/)
        if (!seen[w[n]]++) print w[n] " " page
      }
      /^#define future_[a-z_0-9]*\(/ {
        d = $2
        sub(/\(.*/, "", d)
        # A call-site macro has the name of its function: one entry.
        if (!seen[d]++) print d " " page
      }' "$src/$header"
  done
  exit 0
fi

th() { # NAME
  printf '.TH %s 3 "%s" "libfuture %s" "libfuture manual"\n' "$1" "$date" "$version"
  echo '.\" Generated from the headers by man/mkman.sh: edit those, not this.'
  echo '.\" No hyphenation and a ragged right edge: names are not cut in two.'
  echo '.nh'
  echo '.ad l'
  echo '.\" A line may break after a slash: an installed path (docdir) can be'
  echo '.\" longer than a line, as under make distcheck, and must still fit.'
  echo '.cflags 4 /'
}

if [ "$page" = libfuture ]; then
  th LIBFUTURE
  awk -v version="$version" -v docdir="$docdir" -v bugs="$bugs" \
      -v readme="$src/README.md" "$render_awk"'
    /^\.\\"/ && !started { next }
    { started = 1 }
    /^@EXAMPLE@$/ {
      # The first C block of README.md: the twenty-line pipeline.
      while ((getline line < readme) > 0) {
        if (line ~ /^```c$/) { inblock = 1; continue }
        if (inblock && line ~ /^```$/) break
        if (inblock) emit(code(line))
      }
      close(readme)
      next
    }
    /^@BUGS@$/ {
      if (bugs != "") {
        print ".SH REPORTING BUGS"
        print "Report bugs at"
        print ".UR " bugs
        print ".UE ."
      }
      next
    }
    {
      gsub(/@VERSION@/, version)
      gsub(/@DOCDIR@/, docdir)
      print
    }' "$src/man/libfuture.3.in"
  exit 0
fi

line=$(echo "$pages" | awk -F '	' -v p="$page" '$1 == p')
if [ -z "$line" ]; then
  echo "mkman: no page $page" >&2
  exit 2
fi
header=$(echo "$line" | cut -f 2)
desc=$(echo "$line" | cut -f 3)
defsection=$(echo "$line" | cut -f 4)
upper=$(echo "$page" | tr 'a-z' 'A-Z')

th "$upper"
awk -v page="$page" -v desc="$desc" -v defsection="$defsection" \
    -v docdir="$docdir" "$render_awk"'
# Strip the comment markers of one line of a comment.
function uncomment(s,   opened) {
  opened = sub(/^[ \t]*\/\*\*?<?/, "", s)
  sub(/[ \t]*\*\/[ \t]*$/, "", s)
  if (opened) sub(/^ /, "", s)
  else sub(/^[ \t]*\* ?/, "", s)
  sub(/[ \t]+$/, "", s)
  return s
}
function flush_entry() {
  if (ndecl > 0) {
    ne++
    E_group[ne] = group
    E_doc[ne] = doc
    E_decl[ne] = decl
  }
  ndecl = 0
  decl = ""
  doc = ""
  indecl = 0
}
BEGIN { state = "top"; group = ""; ne = 0 }
state == "top" {
  done = ($0 ~ /\*\//)
  t = $0
  if (NR == 1) sub(/^\/\*+/, "", t)
  if (done) sub(/[ \t]*\*\/.*$/, "", t)
  sub(/^ \* ?/, "", t)
  sub(/^ \*$/, "", t)
  if (NR == 1 && t ~ /^[ \t]*$/) { if (done) state = "body"; next }
  top[++ntop] = t
  if (done) state = "body"
  next
}
# A comment in the body.
incomment {
  ctext = ctext "\n" uncomment($0)
  if ($0 ~ /\*\//) {
    incomment = 0
    if (indecl) { decl = decl "\n" $0; next }
    if (cdoc) doc = ctext
  } else if (indecl) decl = decl "\n" $0
  next
}
indecl {
  if ($0 ~ /^[ \t]*$/ && depth == 0) { flush_entry(); next }
  if (depth == 0 && $0 ~ /^[ \t]*\/\*/ && $0 !~ /^[ \t]*\/\*\*</) {
    flush_entry()
  } else {
    decl = decl "\n" $0
    ndecl++
    t = $0
    gsub(/\/\*.*\*\//, "", t)
    if (t ~ /\/\*/) { sub(/\/\*.*/, "", t); incomment = 1; ctext = "" }
    depth += gsub(/\{/, "{", t) - gsub(/\}/, "}", t)
    next
  }
}
/^[ \t]*$/ { next }
/^\/\* [a-z][^*]* \*\/$/ {
  g = $0
  sub(/^\/\* /, "", g)
  sub(/ \*\/$/, "", g)
  group = toupper(g)
  doc = ""
  next
}
/^[ \t]*\/\*/ {
  cdoc = ($0 ~ /^[ \t]*\/\*\*/)
  ctext = uncomment($0)
  if ($0 ~ /\*\//) { if (cdoc) doc = ctext; else doc = "" }
  else incomment = 1
  if (!cdoc) doc = ""
  next
}
/^#[ \t]*define[ \t]+(FUTURE_|future_)/ && doc != "" {
  indecl = 1; depth = 0; ndecl = 1; decl = $0
  next
}
/^#/ { next }
/^(extern|})/ { next }
{
  if (doc != "" || $0 ~ /^FUTURE_EXTERN/) {
    indecl = 1; depth = 0; ndecl = 1; decl = $0
    t = $0
    gsub(/\/\*.*\*\//, "", t)
    if (t ~ /\/\*/) { incomment = 1; ctext = "" }
    depth += gsub(/\{/, "{", t) - gsub(/\}/, "}", t)
  }
  next
}

# Split a declaration block into statements without comments, the names
# it declares, and the docs of members (/**< after a member, /** before an
# enumeration constant).
function parse(d, n,   lines, nl, i, l, stmt, code_l, c, name, pend, mdoc, inmc, words, nw, nm, fn) {
  nl = split(d, lines, "\n")
  S_n = 0; N_n = 0; M_n = 0; F_n = 0
  stmt = ""; pend = ""; inmc = 0; mdoc = ""; depthp = 0
  for (i = 1; i <= nl; i++) {
    l = lines[i]
    if (inmc) {
      mdoc = mdoc " " uncomment(l)
      if (l ~ /\*\//) {
        inmc = 0
        if (mtarget != "") { M_name[++M_n] = mtarget; M_doc[M_n] = mdoc }
        else pend = mdoc
      }
      continue
    }
    code_l = l
    if (match(l, /\/\*/)) {
      code_l = substr(l, 1, RSTART - 1)
      c = substr(l, RSTART)
      if (c ~ /^\/\*\*</) {
        mtarget = lastmember(stmt code_l)
      } else mtarget = ""
      mdoc = uncomment(c)
      if (c ~ /\*\//) {
        if (mtarget != "") { M_name[++M_n] = mtarget; M_doc[M_n] = mdoc }
        else if (c ~ /^\/\*\*/) pend = mdoc
      } else inmc = 1
    }
    if (code_l ~ /^[ \t]*$/) continue
    sub(/[ \t]+$/, "", code_l)
    if (pend != "" && code_l ~ /^[ \t]*[A-Za-z_]/) {
      nm = code_l
      sub(/^[ \t]*/, "", nm)
      sub(/[^A-Za-z0-9_].*/, "", nm)
      M_name[++M_n] = nm; M_doc[M_n] = pend
      pend = ""
    }
    stmt = (stmt == "") ? code_l : stmt "\n" code_l
    depthp += gsub(/\{/, "{", code_l) - gsub(/\}/, "}", code_l)
    if (depthp == 0 && (stmt ~ /;[ \t]*$/ || (stmt ~ /^#/ && stmt !~ /\\$/))) {
      S[++S_n] = stmt
      stmt = ""
    }
  }
  if (stmt != "") S[++S_n] = stmt
  for (i = 1; i <= S_n; i++) {
    l = S[i]
    fn = 0
    if (l ~ /^#/) {
      name = l
      sub(/^#[ \t]*define[ \t]+/, "", name)
      fn = (name ~ /^[A-Za-z0-9_]+\(/)
      sub(/[^A-Za-z0-9_].*/, "", name)
      N[++N_n] = name
    } else if (l ~ /\{/) {
      name = l
      if (name ~ /\}[ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]*;[ \t]*$/) {
        sub(/.*\}[ \t]*/, "", name)
        sub(/[ \t]*;.*/, "", name)
        N[++N_n] = name
      } else {
        # an anonymous enumeration: its constants
        name = l
        sub(/^[^{]*\{/, "", name)
        sub(/\}.*/, "", name)
        nw = split(name, words, ",")
        for (c = 1; c <= nw; c++) {
          nm = words[c]
          gsub(/^[ \t\n]+/, "", nm)
          sub(/[^A-Za-z0-9_].*/, "", nm)
          if (nm != "") N[++N_n] = nm
        }
      }
    } else if (l ~ /\(\*[ \t]*[A-Za-z_][A-Za-z0-9_]*\)/) {
      name = l
      sub(/^[^(]*\(\*[ \t]*/, "", name)
      sub(/\).*/, "", name)
      N[++N_n] = name
    } else if (l ~ /\(/) {
      name = l
      sub(/\(.*/, "", name)
      nw = split(name, words, /[ \t\n*]+/)
      while (nw > 0 && words[nw] == "") nw--
      N[++N_n] = words[nw]
      fn = 1
    } else {
      name = l
      sub(/[ \t]*;.*/, "", name)
      nw = split(name, words, /[ \t\n*]+/)
      N[++N_n] = words[nw]
    }
    F[i] = fn
  }
}
function lastmember(s,   t, w, nw) {
  t = s
  sub(/[;,][ \t]*$/, "", t)
  sub(/[ \t]*=.*$/, "", t)
  sub(/\[.*$/, "", t)
  nw = split(t, w, /[ \t\n*]+/)
  while (nw > 0 && w[nw] == "") nw--
  return nw > 0 ? w[nw] : ""
}
# A statement as the reader should see it: the attribute macros gone, on
# one line, then wrapped to fit in 66 columns.
function tidy(s,   t) {
  t = s
  gsub(/\\\n/, " ", t)
  gsub(/\n/, " ", t)
  gsub(/FUTURE_EXTERN[ \t]+/, "", t)
  gsub(/[ \t]*FUTURE_WARN_UNUSED/, "", t)
  gsub(/[ \t]*FUTURE_PRINTF\([^)]*\)/, "", t)
  gsub(/[ \t]+/, " ", t)
  gsub(/\( /, "(", t)
  gsub(/ \)/, ")", t)
  while (match(t, /\* [A-Za-z_]/)) t = substr(t, 1, RSTART) substr(t, RSTART + 2)
  sub(/^ /, "", t)
  sub(/ ;$/, ";", t)
  return wrap(t, 66)
}
function wrap(t, W,   p, head) {
  if (length(t) <= W) return t
  if (t ~ /^#define [A-Za-z0-9_]+\(/) {
    p = index(t, ")")
    return substr(t, 1, p) " \\\n" fill(substr(t, p + 2), W, 4, " \\", 1)
  }
  if (t ~ /^#define /) {
    p = index(substr(t, 9), " ") + 8
    return substr(t, 1, p - 1) " \\\n" fill(substr(t, p + 1), W, 4, " \\", 1)
  }
  p = match(t, /\)\(/) ? RSTART + 1 : index(t, "(")
  head = substr(t, 1, p)
  if (p > 0 && p <= 40 && length(t) > 0 && length(first_part(t)) <= W)
    return fill(t, W, p, "", 0)
  return head "\n" fill(substr(t, p + 1), W, 4, "", 1)
}
function first_part(t,   q) {
  q = index(t, ", ")
  return q ? substr(t, 1, q) : t
}
# Fill the parts of t (cut after ", ", or before " | " when there is no
# comma) into lines of at most W columns. Lines after the first, and the
# first too when padfirst is set, are indented by ind columns; each line
# but the last ends with cont.
function fill(t, W, ind, cont, padfirst,   parts, np, sep, end, out, cur, i, pad) {
  if (index(t, ", ")) { np = split(t, parts, ", "); sep = ", "; end = "," }
  else { np = split(t, parts, " [|] "); sep = " | "; end = " |" }
  pad = sprintf("%" ind "s", "")
  cur = (padfirst ? pad : "") parts[1]
  out = ""
  for (i = 2; i <= np; i++) {
    if (length(cur) + length(sep) + length(parts[i]) + length(cont) > W) {
      out = out cur end cont "\n"
      cur = pad parts[i]
    } else cur = cur sep parts[i]
  }
  return out cur
}
function tidy_block(s,   lines, nl, i, out, l, lead) {
  nl = split(s, lines, "\n")
  out = ""
  for (i = 1; i <= nl; i++) {
    l = lines[i]
    match(l, /^[ \t]*/)
    lead = substr(l, 1, RLENGTH)
    l = substr(l, RLENGTH + 1)
    gsub(/[ \t]+/, " ", l)
    sub(/ ;$/, ";", l)
    sub(/ $/, "", l)
    out = (i == 1) ? lead l : out "\n" lead l
  }
  return out
}
function show_code(s,   lines, nl, i) {
  print ".PP"
  print ".RS 4"
  print ".nf"
  nl = split(s, lines, "\n")
  for (i = 1; i <= nl; i++) emit(code(lines[i]))
  print ".fi"
  print ".RE"
}
function doc_lines(d, L,   n, i, since, t) {
  n = split(d, L, "\n")
  for (i = 1; i <= n; i++) {
    while (match(L[i], /[ \t]*@since [0-9.]+/)) {
      t = substr(L[i], RSTART, RLENGTH)
      sub(/.*@since /, "", t)
      SINCE = t
      L[i] = substr(L[i], 1, RSTART - 1) substr(L[i], RSTART + RLENGTH)
    }
    sub(/[ \t]+$/, "", L[i])
  }
  return n
}
END {
  flush_entry()
  print ".SH NAME"
  print page " \\- " desc
  print ".SH LIBRARY"
  print "libfuture (\\fI\\-lfuture\\fR; \\fIpkg\\-config \\-\\-libs libfuture\\fR)"
  print ".SH SYNOPSIS"
  print ".nf"
  print ".B #include <future.h>"
  print ".fi"
  for (e = 1; e <= ne; e++) {
    parse(E_decl[e])
    for (i = 1; i <= S_n; i++)
      if (F[i]) { syn[++nsyn] = tidy(S[i]) }
  }
  for (i = 1; i <= nsyn; i++) {
    print ".PP"
    print ".nf"
    n = split(syn[i], L, "\n")
    for (k = 1; k <= n; k++) emit(code(L[k]))
    print ".fi"
  }
  print ".SH DESCRIPTION"
  t = top[1]
  sub(/^libfuture: */, "", t)
  top[1] = toupper(substr(t, 1, 1)) substr(t, 2)
  render(top, ntop, 1)
  cur = ""
  for (e = 1; e <= ne; e++) {
    g = E_group[e] != "" ? E_group[e] : defsection
    if (g != cur) { print ".SH " g; cur = g }
    parse(E_decl[e])
    names = ""
    for (i = 1; i <= N_n; i++) names = names (i > 1 ? ", " : "") N[i]
    print ".SS \"" names "\""
    block = ""
    for (i = 1; i <= S_n; i++) {
      st = (S[i] ~ /\{/) ? tidy_block(S[i]) : tidy(S[i])
      block = (block == "") ? st : block "\n" st
    }
    show_code(block)
    SINCE = ""
    n = doc_lines(E_doc[e], L)
    render(L, n, 0)
    for (i = 1; i <= M_n; i++) {
      print ".TP"
      print ".B " M_name[i]
      m = M_doc[i]
      gsub(/[ \t]+/, " ", m)
      sub(/^ /, "", m)
      emit(text(m))
    }
    if (SINCE != "") { print ".PP"; print "Since libfuture " SINCE "." }
  }
  print ".SH SEE ALSO"
  see = ""
  n = split("libfuture libfuture-core libfuture-fs libfuture-async libfuture-dns libfuture-signal libfuture-watch libfuture-process libfuture-udp libfuture-stream", P, " ")
  for (i = 1; i <= n; i++)
    if (P[i] != page) see = see (see == "" ? "" : ",\n") ".BR " P[i] " (3)"
  print see
  print ".PP"
  print "The reference, " docdir "/docs/reference.md, restates every entry"
  print "with the ownership of each argument; the guide,"
  print docdir "/docs/guide.md, explains the ideas."
}' "$src/$header"
