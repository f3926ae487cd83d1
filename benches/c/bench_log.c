/*
 * ns per runlog_log_f64 (name passed as a string) while a consumer drains
 * the ring, beside a memcpy floor, the coarse clock read that stamps each
 * metric, and fprintf of the same metric into a buffered FILE, in one run;
 * then runlog_log_f64 again once a second thread has used the logger (its
 * lock's cache line has been on another core). With a header that has it,
 * runlog_log_f64_at (a step per call) is timed right after runlog_log_f64,
 * in the same round, and the ratio of the medians printed; then both again in
 * alternating batches (the steadier ratio on a shared machine).
 *
 * Each sample times a batch of BATCH calls with CLOCK_MONOTONIC (so the
 * timer's own cost is spread over the batch); median and p99 are over the
 * batches. Usage: bench_log [calls per line (1000000)] [name (train/loss)]
 * [ring MiB (1)]. The spool
 * directory comes from $RUNLOG_SPOOL; something must drain it (the cargo
 * wrapper tests/tests/bench.rs runs a runlog_core consumer thread).
 */
#define _GNU_SOURCE /* CLOCK_REALTIME_COARSE */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runlog.h"

#define BATCH 64

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void report(const char *what, double *samples, size_t n) {
  qsort(samples, n, sizeof *samples, cmp_double);
  printf("%-34s median %7.1f ns   p99 %7.1f ns   (min %.1f, %zu batches of %d)\n", what,
         samples[n / 2], samples[n * 99 / 100], samples[0], n, BATCH);
}

/* The floor: copy the same bytes a log call moves into a ring-sized buffer. */
static unsigned char floor_buf[1 << 20];
static size_t floor_pos;

static inline void floor_copy(const char *name, double value) {
  size_t len = strlen(name);
  if (floor_pos + len + 16 > sizeof floor_buf) floor_pos = 0;
  memcpy(floor_buf + floor_pos, name, len);
  memcpy(floor_buf + floor_pos + len, &value, sizeof value);
  floor_pos += (len + sizeof value + 7) & ~(size_t)7;
}

/* Times `batches` batches of runlog_log_f64 into `samples`; 0 on success. */
static int time_runlog(runlog_logger *logger, const char *name, double *v, double *samples,
                       size_t batches) {
  for (size_t b = 0; b < batches; b++) {
    uint64_t t0 = now_ns();
    for (int i = 0; i < BATCH; i++) {
      if (runlog_log_f64(logger, name, *v, NULL) != RUNLOG_STATUS_OK) {
        char msg[512];
        runlog_last_error(msg, sizeof msg);
        fprintf(stderr, "runlog_log_f64: %s\n", msg);
        return 1;
      }
      *v += 1e-6;
    }
    samples[b] = (double)(now_ns() - t0) / BATCH;
  }
  return 0;
}

#ifdef RUNLOG_MAX_PARAM_VALUE_LEN /* a header with the step calls */
/* As time_runlog, through runlog_log_f64_at with the step counting up. */
static int time_runlog_at(runlog_logger *logger, const char *name, double *v, double *samples,
                          size_t batches) {
  int64_t step = 0;
  for (size_t b = 0; b < batches; b++) {
    uint64_t t0 = now_ns();
    for (int i = 0; i < BATCH; i++) {
      if (runlog_log_f64_at(logger, name, *v, step++, NULL) != RUNLOG_STATUS_OK) {
        char msg[512];
        runlog_last_error(msg, sizeof msg);
        fprintf(stderr, "runlog_log_f64_at: %s\n", msg);
        return 1;
      }
      *v += 1e-6;
    }
    samples[b] = (double)(now_ns() - t0) / BATCH;
  }
  return 0;
}

/* runlog_log_f64 and runlog_log_f64_at in alternating batches (one batch of
 * each, then the next pair), so both see the same machine from moment to
 * moment: the steadier _at / f64 ratio on a shared machine. */
static int time_interleaved(runlog_logger *logger, const char *name, double *v, double *f64s,
                            double *ats, size_t batches) {
  int64_t step = 0;
  for (size_t b = 0; b < batches; b++) {
    uint64_t t0 = now_ns();
    for (int i = 0; i < BATCH; i++) {
      if (runlog_log_f64(logger, name, *v, NULL) != RUNLOG_STATUS_OK) return 1;
      *v += 1e-6;
    }
    uint64_t t1 = now_ns();
    for (int i = 0; i < BATCH; i++) {
      if (runlog_log_f64_at(logger, name, *v, step++, NULL) != RUNLOG_STATUS_OK) return 1;
      *v += 1e-6;
    }
    f64s[b] = (double)(t1 - t0) / BATCH;
    ats[b] = (double)(now_ns() - t1) / BATCH;
  }
  return 0;
}
#endif

static void *log_once(void *logger) {
  return runlog_log_f64(logger, "other/thread", 1.0, NULL) == RUNLOG_STATUS_OK ? NULL
                                                                               : (void *)1;
}

int main(int argc, char **argv) {
  size_t calls = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
  size_t batches = calls / BATCH;
  double *samples = malloc(batches * sizeof *samples);
  if (samples == NULL || batches < 2) return 2;
#ifdef RUNLOG_MAX_PARAM_VALUE_LEN
  double *interleaved_at = malloc(batches / 2 * sizeof *interleaved_at);
  if (interleaved_at == NULL) return 2;
#endif
  const char *name = argc > 2 ? argv[2] : "train/loss";
  volatile double sink = 0;

  runlog_options o = runlog_options_default();
  /* Ring capacity in MiB (argv[3], default 1 = the default ring). */
  o.ring_capacity = (uint64_t)(argc > 3 ? strtoull(argv[3], NULL, 10) : 1) << 20;
  o.full_timeout_ms = 60000;
  runlog_logger *logger = NULL;
  if (runlog_open(&o, &logger) != RUNLOG_STATUS_OK) {
    char msg[512];
    runlog_last_error(msg, sizeof msg);
    fprintf(stderr, "runlog_open: %s\n", msg);
    return 1;
  }

  FILE *f = fopen("/dev/null", "w");
  if (f == NULL || setvbuf(f, NULL, _IOFBF, 1 << 20) != 0) return 1;

  for (int round = 0; round < 2; round++) { /* round 0 warms up */
    int print = round == 1;
    double v = 0.5;

    for (size_t b = 0; b < batches; b++) {
      uint64_t t0 = now_ns();
      for (int i = 0; i < BATCH; i++) {
        floor_copy(name, v);
        v += 1e-6;
      }
      samples[b] = (double)(now_ns() - t0) / BATCH;
    }
    if (print) report("memcpy floor", samples, batches);

    for (size_t b = 0; b < batches; b++) {
      uint64_t t0 = now_ns();
      for (int i = 0; i < BATCH; i++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME_COARSE, &ts);
        sink += (double)ts.tv_nsec;
      }
      samples[b] = (double)(now_ns() - t0) / BATCH;
    }
    if (print) report("clock_gettime(REALTIME_COARSE)", samples, batches);

    if (time_runlog(logger, name, &v, samples, batches) != 0) return 1;
    double runlog_median = 0;
    if (print) {
      report("runlog_log_f64", samples, batches);
      runlog_median = samples[batches / 2];
    }
#ifdef RUNLOG_MAX_PARAM_VALUE_LEN
    if (time_runlog_at(logger, name, &v, samples, batches) != 0) return 1;
    double at_median = 0;
    if (print) {
      report("runlog_log_f64_at", samples, batches);
      at_median = samples[batches / 2];
    }
    /* runlog_log_f64 again: the _at line is compared with the mean of the
     * lines before and after it, so drift within the run does not bias it. */
    if (time_runlog(logger, name, &v, samples, batches) != 0) return 1;
    if (print) {
      report("runlog_log_f64 (again)", samples, batches);
      printf("runlog_log_f64_at / runlog_log_f64 (medians, f64 before and after): %.3f\n",
             at_median / ((runlog_median + samples[batches / 2]) / 2));
    }
    /* Half the batches each, so this pass makes as many calls as one line. */
    if (time_interleaved(logger, name, &v, samples, interleaved_at, batches / 2) != 0) {
      fprintf(stderr, "interleaved pass failed\n");
      return 1;
    }
    if (print) {
      report("runlog_log_f64 (interleaved)", samples, batches / 2);
      report("runlog_log_f64_at (interleaved)", interleaved_at, batches / 2);
      printf("runlog_log_f64_at / runlog_log_f64 (medians, interleaved batches): %.3f\n",
             interleaved_at[batches / 4] / samples[batches / 4]);
    }
#endif

    for (size_t b = 0; b < batches; b++) {
      uint64_t t0 = now_ns();
      for (int i = 0; i < BATCH; i++) {
        fprintf(f, "%s %.17g\n", name, v);
        v += 1e-6;
      }
      samples[b] = (double)(now_ns() - t0) / BATCH;
    }
    if (print) {
      report("fprintf into a buffered FILE", samples, batches);
      printf("fprintf / runlog_log_f64 (medians): %.1fx\n", samples[batches / 2] / runlog_median);
    }
  }
  /* A second thread logs once, as in a multi-threaded program. */
  pthread_t other;
  if (pthread_create(&other, NULL, log_once, logger) != 0) return 1;
  void *other_failed;
  pthread_join(other, &other_failed);
  if (other_failed != NULL) return 1;
  double v = 0.5;
  for (int round = 0; round < 2; round++) {
    if (time_runlog(logger, name, &v, samples, batches) != 0) return 1;
  }
  report("runlog_log_f64, lock shared", samples, batches);

  runlog_status s = runlog_close(logger, 30000);
  fclose(f);
  free(samples);
#ifdef RUNLOG_MAX_PARAM_VALUE_LEN
  free(interleaved_at);
#endif
  (void)sink;
  return s == RUNLOG_STATUS_OK ? 0 : 1;
}
