/*
 * replay: run the fuzz harness (fuzz/fuzz_ops.c) over saved inputs without
 * libFuzzer, so that the corpus is replayed by `make check` with any
 * compiler, under valgrind and under the sanitizers.
 *
 *     fuzz/replay DIR-OR-FILE...
 *
 * Each argument is an input file, or a directory whose regular files (not
 * those whose name starts with a dot) are run in name order. Exits 0 once
 * every input has run; a broken invariant aborts, naming the input first.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
  FILE *fp = fopen(path, "rb");
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0, n;
  if (fp == NULL) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    return -1;
  }
  do {
    if (len == cap) {
      uint8_t *nb;
      cap = cap ? cap * 2 : 4096;
      nb = realloc(buf, cap);
      if (nb == NULL) {
        fprintf(stderr, "replay: out of memory\n");
        free(buf);
        fclose(fp);
        return -1;
      }
      buf = nb;
    }
    n = fread(buf + len, 1, cap - len, fp);
    len += n;
  } while (n > 0);
  if (ferror(fp)) {
    fprintf(stderr, "replay: %s: read error\n", path);
    free(buf);
    fclose(fp);
    return -1;
  }
  fclose(fp);
  /* Said (and flushed) before running, so that an abort names its input. */
  printf("replay: %s (%zu bytes)\n", path, len);
  fflush(stdout);
  LLVMFuzzerTestOneInput(buf, len);
  free(buf);
  return 0;
}

static int skip_entry(const struct dirent *e) { return e->d_name[0] != '.'; }

static int run_dir(const char *dir, int *count) {
  struct dirent **names;
  int n = scandir(dir, &names, skip_entry, alphasort), rc = 0;
  if (n < 0) {
    fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
    return -1;
  }
  for (int i = 0; i < n; i++) {
    size_t len = strlen(dir) + strlen(names[i]->d_name) + 2;
    char *path = malloc(len);
    struct stat st;
    if (path == NULL) {
      rc = -1;
    } else {
      snprintf(path, len, "%s/%s", dir, names[i]->d_name);
      if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        if (run_file(path) != 0)
          rc = -1;
        else
          (*count)++;
      }
      free(path);
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

int main(int argc, char **argv) {
  int count = 0, rc = 0;
  if (argc < 2) {
    fprintf(stderr, "usage: %s DIR-OR-FILE...\n", argv[0]);
    return 2;
  }
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
      rc = 1;
    } else if (S_ISDIR(st.st_mode)) {
      if (run_dir(argv[i], &count) != 0)
        rc = 1;
    } else if (run_file(argv[i]) == 0) {
      count++;
    } else {
      rc = 1;
    }
  }
  if (rc == 0 && count > 0)
    printf("replay: %d inputs ran, every invariant held\n", count);
  if (count == 0) {
    fprintf(stderr, "replay: no input found\n");
    rc = 1;
  }
  return rc;
}
