/* A program run under `runlog run` that closes the process-wide logger
 * (tests/tests/close_under_run.rs):
 *
 *   close_run N TIMEOUT_MS
 *
 * logs N points of "loss" (steps 0..N-1) through runlog_get_logger(), prints
 * "closing", then runlog_close(logger, TIMEOUT_MS), and prints the status
 * and, unless OK, runlog_last_error. Exits 0 when close answered OK, or
 * TIMEOUT to a timeout of 0 (which only checks once: nothing can be
 * committed in no time); else 1, which fails the run. Writes nothing to
 * standard error (a test gives `runlog run` a full pipe there). */
#include <stdio.h>
#include <stdlib.h>

#include "runlog.h"

int main(int argc, char **argv) {
  if (argc != 3) {
    printf("usage: close_run N TIMEOUT_MS\n");
    return 64;
  }
  long n = atol(argv[1]);
  unsigned timeout_ms = (unsigned)strtoul(argv[2], NULL, 10);
  runlog_logger *log = runlog_get_logger();
  if (log == NULL) {
    char msg[512];
    runlog_last_error(msg, sizeof msg);
    printf("no logger: %s\n", msg);
    return 2;
  }
  for (long i = 0; i < n; i++) {
    runlog_status s = runlog_log_f64_at(log, "loss", 1.0 / (double)(i + 1), i, NULL);
    if (s != RUNLOG_STATUS_OK) {
      printf("log %ld: %s\n", i, runlog_status_str(s));
      return 3;
    }
  }
  printf("closing\n");
  fflush(stdout);
  runlog_status s = runlog_close(log, timeout_ms);
  char msg[512] = "";
  if (s != RUNLOG_STATUS_OK) runlog_last_error(msg, sizeof msg);
  printf("%s %s\n", runlog_status_str(s), msg);
  fflush(stdout);
  if (s == RUNLOG_STATUS_OK) return 0;
  return s == RUNLOG_STATUS_TIMEOUT && timeout_ms == 0 ? 0 : 1;
}
