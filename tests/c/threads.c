/* 8 threads log through one logger at once; the consumer checks that every
 * record arrives and that each thread's records keep their order. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "runlog.h"

#define THREADS 8
#define PER_THREAD 20000

static runlog_logger *logger;

static void *work(void *arg) {
  long id = (long)arg;
  char name[16];
  snprintf(name, sizeof name, "thread.%ld", id);
  for (int64_t k = 0; k < PER_THREAD; k++) {
    runlog_status s = (k % 2) ? runlog_log_f64(logger, name, (double)k, NULL)
                              : runlog_log_i64(logger, name, k, NULL);
    if (s != RUNLOG_STATUS_OK) {
      char msg[256];
      runlog_last_error(msg, sizeof msg);
      fprintf(stderr, "thread %ld: %s\n", id, msg);
      return (void *)1;
    }
  }
  return NULL;
}

int main(void) {
  runlog_options o = runlog_options_default();
  o.full_timeout_ms = 60000; /* block, never drop: the consumer may be slow under ASan */
  o.ring_capacity = 64 * 1024;
  if (runlog_open(&o, &logger) != RUNLOG_STATUS_OK) return 2;
  pthread_t th[THREADS];
  for (long i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, work, (void *)i);
  int bad = 0;
  for (int i = 0; i < THREADS; i++) {
    void *r;
    pthread_join(th[i], &r);
    bad |= r != NULL;
  }
  runlog_status s = runlog_close(logger, 30000);
  if (s != RUNLOG_STATUS_OK) {
    char msg[256];
    runlog_last_error(msg, sizeof msg);
    fprintf(stderr, "close: %s\n", msg);
    return 1;
  }
  return bad;
}
