/*
 * tree_walk, du: the reference a user would run, du -s -B1 DIR, timed
 * from its start to its exit (wall time, and the CPU time it used, from
 * getrusage(RUSAGE_CHILDREN)); its total is the bytes of the result line.
 * du (GNU coreutils) walks with one thread and fts.
 *
 * Usage: tree_walk_du [n [dir]]   (default n 100000; without dir, the
 * program makes a tree of n entries in a temporary directory and removes
 * it; n of the result line is n, or, with dir, n as given)
 */
#include "tree.h"

#include <sys/wait.h>

static double children_cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_CHILDREN, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
  bench_result_t r = {"tree_walk", "du", 0, 0, 0, 0, 0, 0};
  const char *dir = argc > 2 ? argv[2] : NULL;
  char *own = NULL;
  size_t n = bench_arg_n(argc, argv, 100000);
  unsigned long long bytes = 0;
  int p[2], status;
  double w0, c0;
  char out[8192];
  ssize_t got, len = 0;
  pid_t pid;

  if (dir == NULL)
    dir = own = bench_tree_temp(n);
  BENCH_CHECK(pipe(p) == 0, "pipe");
  c0 = children_cpu();
  w0 = bench_wall();
  pid = fork();
  BENCH_CHECK(pid >= 0, "fork");
  if (pid == 0) {
    dup2(p[1], 1);
    close(p[0]);
    close(p[1]);
    execlp("du", "du", "-s", "-B1", dir, (char *)NULL);
    _exit(127);
  }
  close(p[1]);
  while ((got = read(p[0], out + len, sizeof(out) - 1 - (size_t)len)) > 0)
    len += got;
  close(p[0]);
  BENCH_CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
  r.wall_s = bench_wall() - w0;
  r.cpu_s = children_cpu() - c0;
  BENCH_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "du -s -B1 %s failed", dir);
  out[len] = '\0';
  BENCH_CHECK(sscanf(out, "%llu", &bytes) == 1, "du said: %s", out);
  r.n = n;
  if (own != NULL) {
    bench_tree_remove(own);
    free(own);
  }
  bench_tree_print(&r, bytes);
  return 0;
}
