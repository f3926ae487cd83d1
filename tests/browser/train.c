/*
 * The training program the browser tests run under `runlog run`:
 *
 *   train LR STEPS [live]
 *
 * logs params lr (LR) and optimizer (sgd), metrics loss and acc at steps
 * 0..STEPS-1, a text and an image artifact; with "live", it then logs one
 * more step of loss and acc per line read from standard input, until end of
 * input, so a test decides when each point is logged.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runlog.h"

#define CHECK(call)                                                      \
  do {                                                                   \
    runlog_status s_ = (call);                                           \
    if (s_ != RUNLOG_STATUS_OK) {                                        \
      char msg_[512];                                                    \
      runlog_last_error(msg_, sizeof msg_);                              \
      fprintf(stderr, "%s failed: %s\n", #call, msg_);                   \
      exit(1);                                                           \
    }                                                                    \
  } while (0)

static const char SVG[] =
    "<svg xmlns='http://www.w3.org/2000/svg' width='120' height='60'>"
    "<rect width='120' height='60' fill='#1565c0'/>"
    "<text x='10' y='35' fill='white'>loss curve</text></svg>";

static void step(runlog_logger *log, double lr, int64_t i) {
  double loss = exp(-lr * 10.0 * (double)i) + 0.01;
  CHECK(runlog_log_f64_at(log, "loss", loss, i, NULL));
  CHECK(runlog_log_f64_at(log, "acc", 1.0 - loss / 2.0, i, NULL));
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: train LR STEPS [live]\n");
    return 2;
  }
  runlog_logger *log = runlog_get_logger();
  if (log == NULL) {
    char msg[512];
    runlog_last_error(msg, sizeof msg);
    fprintf(stderr, "no runlog logger: %s\n", msg);
    return 1;
  }
  double lr = atof(argv[1]);
  int64_t steps = atoll(argv[2]);
  CHECK(runlog_log_param(log, "lr", argv[1], NULL));
  CHECK(runlog_log_param(log, "optimizer", "sgd", NULL));
  for (int64_t i = 0; i < steps; i++) step(log, lr, i);
  char notes[128];
  int n = snprintf(notes, sizeof notes, "learning rate %s, %lld steps\n", argv[1], (long long)steps);
  CHECK(runlog_upload(log, "notes.txt", notes, (size_t)n, NULL));
  CHECK(runlog_upload(log, "plots/curve.svg", SVG, sizeof SVG - 1, NULL));
  if (argc > 3 && strcmp(argv[3], "live") == 0) {
    CHECK(runlog_flush(log, 10000));
    printf("ready\n");
    fflush(stdout);
    char line[64];
    for (int64_t i = steps; fgets(line, sizeof line, stdin) != NULL; i++) {
      step(log, lr, i);
      printf("logged %lld\n", (long long)i);
      fflush(stdout);
    }
  }
  /* No close: the process-wide logger ends the run at exit, and
   * everything logged is already in the spool. */
  return 0;
}
