/* Links the thumbv7em staticlib into a bare-metal program (arm-none-eabi-gcc),
 * to check the device build links with no host symbols and to measure what it
 * adds to flash. Not run: scripts/test-ffi.sh only links it and prints sizes. */
#include <stddef.h>
#include <stdint.h>

#include "runlog.h"

static _Alignas(8) uint8_t ring_buffer[4096];
static volatile uint8_t uart_data;

static ptrdiff_t uart_write(void *ctx, const uint8_t *data, size_t len) {
  (void)ctx;
  for (size_t i = 0; i < len; i++) uart_data = data[i];
  return (ptrdiff_t)len;
}

int main(void) {
  runlog_logger *log = NULL;
  if (runlog_init_static(ring_buffer, sizeof ring_buffer, "fw", NULL, &log) != RUNLOG_STATUS_OK)
    return 1;
  for (int i = 0;; i++) {
    runlog_ticket t;
    runlog_log_f64(log, "temp", 20.0 + i, &t);
    runlog_log_i64(log, "tick", i, NULL);
    size_t written;
    runlog_drain(log, uart_write, NULL, 256, &written);
    (void)runlog_wait(log, t, 0);
  }
}
