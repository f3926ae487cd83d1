/* Logs forever, printing "<ticket> <value>" after each log call returned,
 * until the test kills it with SIGKILL. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runlog.h"

int main(void) {
  runlog_logger *logger = runlog_get_logger();
  if (logger == NULL) return 2;
  char line[64];
  for (long long k = 0;; k++) {
    runlog_ticket t;
    runlog_status s = runlog_log_i64(logger, "step", k, &t);
    if (s != RUNLOG_STATUS_OK) return 1;
    int n = snprintf(line, sizeof line, "%llu %lld\n", (unsigned long long)t, k);
    if (write(1, line, (size_t)n) != n) return 3;
  }
}
