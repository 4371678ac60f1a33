#!/bin/sh
# Replays the fuzz corpus (fuzz/corpus) through the harness, without
# libFuzzer: every saved input runs again with whatever compiler and
# sanitizers this tree was configured with, first as the default
# (adversarial) user, then as the tidy one (FUZZ_OPS_TIDY=1). See
# fuzz/README.md.
set -eu
replay="${top_builddir:-.}/fuzz/replay"
corpus="${top_srcdir:-.}/fuzz/corpus"
"$replay" "$corpus"
FUZZ_OPS_TIDY=1 "$replay" "$corpus"
