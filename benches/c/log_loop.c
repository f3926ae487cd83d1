/*
 * A plain loop of log calls for instruction counts (the machine has no
 * hardware counters; valgrind counts instead): bench_log.c times, this counts.
 * Usage: log_loop MODE CALLS, MODE 0 (no call: the fixed cost of the program
 * to subtract), 1 runlog_log_f64, 2 runlog_log_f64_at (step = the call's
 * index). One 512 MiB ring on $RUNLOG_SPOOL, never drained, so CALLS must
 * stay below ~10 million. Per call: (Ir(MODE) - Ir(0)) / CALLS;
 * scripts/count-ffi.sh [BASE_REV] does it all (and deletes the 512 MiB spool
 * file each run leaves). Mode 2 needs a header with the step calls.
 */
#include <stdio.h>
#include <stdlib.h>

#include "runlog.h"

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  int mode = atoi(argv[1]);
  long calls = atol(argv[2]);
  runlog_options o = runlog_options_default();
  o.ring_capacity = (uint64_t)512 << 20;
  o.full_timeout_ms = 1;
  runlog_logger *logger = NULL;
  if (runlog_open(&o, &logger) != RUNLOG_STATUS_OK) return 1;
  double v = 0.5;
  for (long i = 0; i < calls; i++) {
    runlog_status s = RUNLOG_STATUS_OK;
    if (mode == 1) s = runlog_log_f64(logger, "train/loss", v, NULL);
#ifdef RUNLOG_MAX_PARAM_VALUE_LEN /* a header with the step calls */
    if (mode == 2) s = runlog_log_f64_at(logger, "train/loss", v, i, NULL);
#else
    if (mode == 2) return 3;
#endif
    if (s != RUNLOG_STATUS_OK) {
      fprintf(stderr, "call %ld failed: %s\n", i, runlog_status_str((uint32_t)s));
      return 1;
    }
    v += 1e-6;
  }
  /* Nothing drains this ring: close without waiting (the status says so). */
  (void)runlog_close(logger, 0);
  return 0;
}
