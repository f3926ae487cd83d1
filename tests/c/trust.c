/* Programs that break the uploader's assumptions (issue 11), one per mode:
 *   full close|die   log into a tiny ring that nobody drains until 797 log
 *                    calls were answered FULL, print that count, then close
 *                    the logger (its end record cannot fit) or die (SIGKILL).
 *   rawfork PIDFILE  a child made with the raw fork system call (no atfork
 *                    handlers run) keeps logging into the parent's ring for
 *                    60 s after the parent exited; its pid goes to PIDFILE.
 *   close-early      runlog_close(logger, 5000) right after the first log
 *                    call, before the uploader's next scan; prints the status. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "runlog.h"

static void pause_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

static int full(const char *end) {
  runlog_options o = runlog_options_default();
  o.ring_capacity = RUNLOG_MIN_CAPACITY;
  o.full_timeout_ms = 0;
  runlog_logger *log = NULL;
  if (runlog_open(&o, &log) != RUNLOG_STATUS_OK) return 2;
  long refused = 0;
  for (long i = 0; refused < 797; i++) {
    runlog_status s = runlog_log_i64(log, "x", i, NULL);
    if (s == RUNLOG_STATUS_FULL) refused++;
    else if (s != RUNLOG_STATUS_OK) return 3;
  }
  printf("%ld\n", refused);
  fflush(stdout);
  if (strcmp(end, "die") == 0) kill(getpid(), SIGKILL);
  runlog_close(log, 0);
  return 0;
}

static int rawfork(const char *pidfile) {
  runlog_logger *log = runlog_get_logger();
  if (log == NULL) return 2;
  for (int i = 0; i < 100; i++) runlog_log_i64(log, "parent", i, NULL);
  long pid = syscall(SYS_fork);
  if (pid < 0) return 4;
  if (pid == 0) {
    FILE *f = fopen(pidfile, "w");
    if (f == NULL) _exit(5);
    fprintf(f, "%ld\n", (long)syscall(SYS_getpid));
    fclose(f);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0;; i++) {
      runlog_log_i64(log, "child", i, NULL);
      pause_ms(1);
      clock_gettime(CLOCK_MONOTONIC, &now);
      if (now.tv_sec - start.tv_sec > 60) _exit(0);
    }
  }
  for (int i = 0; i < 100; i++) runlog_log_i64(log, "parent", 100 + i, NULL);
  pause_ms(300);
  return 0;
}

static int close_early(void) {
  runlog_logger *log = runlog_get_logger();
  if (log == NULL) return 2;
  runlog_log_f64(log, "loss", 0.5, NULL);
  runlog_status s = runlog_close(log, 5000);
  char msg[256];
  runlog_last_error(msg, sizeof msg);
  printf("%s %s\n", runlog_status_str(s), s == RUNLOG_STATUS_OK ? "" : msg);
  return s == RUNLOG_STATUS_OK ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "full") == 0) return full(argv[2]);
  if (argc >= 3 && strcmp(argv[1], "rawfork") == 0) return rawfork(argv[2]);
  if (argc >= 2 && strcmp(argv[1], "close-early") == 0) return close_early();
  fprintf(stderr, "usage: trust full close|die | rawfork PIDFILE | close-early\n");
  return 64;
}
