/*
 * tree_walk_make DIR [n]: make tree_walk's tree of n entries (default
 * 100000) in the new directory DIR (bench/tree.h says its shape), for
 * bench/run.sh, which makes it once for every program.
 */
#include "tree.h"

int main(int argc, char **argv) {
  size_t n = 100000;
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s DIR [n]\n", argv[0]);
    return 2;
  }
  if (argc == 3)
    n = bench_arg_n(2, argv + 1, n);
  bench_tree_make(argv[1], n);
  return 0;
}
