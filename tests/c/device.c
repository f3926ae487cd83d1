/* The device API on a host: a static buffer, a write callback that sends
 * frames to stdout; the test decodes them with runlog_core's FrameDecoder. */
#include <stdio.h>
#include <string.h>

#include "runlog.h"

static _Alignas(8) uint8_t buffer[8192];

static ptrdiff_t to_stdout(void *ctx, const uint8_t *data, size_t len) {
  size_t *total = ctx;
  /* Write in small pieces, like a UART driver would. */
  size_t n = len < 7 ? len : 7;
  if (fwrite(data, 1, n, stdout) != n) return -1;
  *total += n;
  return (ptrdiff_t)n;
}

static ptrdiff_t broken(void *ctx, const uint8_t *data, size_t len) {
  (void)ctx;
  (void)data;
  (void)len;
  return -1;
}

#define CHECK(call)                                                    \
  do {                                                                 \
    runlog_status s_ = (call);                                         \
    if (s_ != RUNLOG_STATUS_OK) {                                      \
      char m_[256];                                                    \
      runlog_last_error(m_, sizeof m_);                                \
      fprintf(stderr, "%s: %s\n", #call, m_);                          \
      return 1;                                                        \
    }                                                                  \
  } while (0)

int main(void) {
  runlog_logger *l = NULL;
  uint8_t tiny[64];
  if (runlog_init_static(tiny, sizeof tiny, NULL, NULL, &l) != RUNLOG_STATUS_INVALID_ARGUMENT) return 1;
  if (runlog_static_min_len() > sizeof buffer) return 1;
  CHECK(runlog_init_static(buffer, sizeof buffer, "dev-run", "firmware", &l));
  size_t total = 0, written = 0;
  runlog_ticket t;
  CHECK(runlog_log_i64(l, "boot", 1, NULL));
  for (int i = 0; i < 100; i++) CHECK(runlog_log_f64(l, "temp", 20.0 + i * 0.5, NULL));
  CHECK(runlog_log_str(l, "fw", "1.2.3", NULL));
  int64_t hist[4] = {1, 2, 3, 4};
  CHECK(runlog_log_i64_list(l, "hist", hist, 4, &t));
  /* Not handed to the transport yet. */
  if (runlog_wait(l, t, 0) != RUNLOG_STATUS_TIMEOUT) return 1;
  /* A failing transport loses nothing: the frame is sent again later. */
  if (runlog_drain(l, broken, NULL, SIZE_MAX, &written) != RUNLOG_STATUS_TRANSPORT) return 1;
  CHECK(runlog_drain(l, to_stdout, &total, SIZE_MAX, &written));
  CHECK(runlog_wait(l, t, 0));
  static const char blob[] = "calibration table v7: 0 1 1 2 3 5 8 13 21 34 55 89";
  CHECK(runlog_upload(l, "cal/table.txt", (const uint8_t *)blob, strlen(blob), &t));
  /* Bounded drains, as a main loop would do. */
  do {
    CHECK(runlog_drain(l, to_stdout, &total, 100, &written));
  } while (written > 0);
  CHECK(runlog_wait(l, t, 0));
  CHECK(runlog_close(l, 0));
  if (runlog_log_f64(l, "late", 1.0, NULL) != RUNLOG_STATUS_CLOSED) return 1;
  CHECK(runlog_drain(l, to_stdout, &total, SIZE_MAX, &written));
  fflush(stdout);
  fprintf(stderr, "device wrote %zu bytes\n", total);
  return 0;
}
