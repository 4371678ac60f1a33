/* Prints the version of the library linked at run time, as
 * future_version_string() and future_version() give it, for
 * test/version.sh. */
#include <future.h>
#include <stdio.h>

int main(void) {
  printf("%s 0x%06x\n", future_version_string(), future_version());
  return 0;
}
