/* The firmware's sink: each value logged through runlog.h into a static
 * buffer, drained to UART0 as COBS + CRC frames every DRAIN_EVERY records,
 * as an idle loop or a timer would drain.
 *
 * Every call's status is checked: the first failure's status is printed on
 * the host console when the run ends, which then exits with status 1. As in the Rust firmware's sink, errors are handled in the sink,
 * once, not at each of the workload's call sites. */
#include <stddef.h>
#include <stdint.h>

#include "runlog.h"
#include "semihosting.h"
#include "sink.h"
#include "uart.h"

/* Records logged between two drains, as an idle loop or a timer would drain. */
#define DRAIN_EVERY 32

/* Everything runlog keeps lives here: its handle, frame scratch and ring.
 * (A test builds the firmware with a buffer too small for runlog, to check
 * that the failure is reported.) */
#ifndef RUNLOG_BUFFER_LEN
#define RUNLOG_BUFFER_LEN 4096
#endif
static uint8_t runlog_buffer[RUNLOG_BUFFER_LEN] __attribute__((aligned(64)));
/* NULL until sink_start succeeds: calls then return NULL_ARGUMENT. */
static runlog_logger *log;
/* Log calls since the last drain, counted from 1: see `check`. */
static unsigned since_drain = 1;
/* The first failure's status; RUNLOG_STATUS_OK (0) while none failed. */
static runlog_status first_failure = RUNLOG_STATUS_OK;

static ptrdiff_t uart_sink(void *ctx, const uint8_t *data, size_t len) {
    (void)ctx;
    uart_write(UART0_BASE, data, len);
    return (ptrdiff_t)len;
}

/* Keeps the first failure's status; the run then ends with status 1. */
static void failed(runlog_status s) {
    if (first_failure == RUNLOG_STATUS_OK) {
        first_failure = s;
    }
}

/* Sends everything the ring holds: with no byte limit (SIZE_MAX) one call
 * writes frames until the ring is empty. */
static runlog_status drain_all(void) {
    return runlog_drain(log, uart_sink, NULL, SIZE_MAX, NULL);
}

/* Runs after each log call with its status. The drain policy: drain every
 * DRAIN_EVERY records (here after the call, counted from 1: the same bytes
 * as draining before every DRAIN_EVERY-th call). The ring holds many times
 * DRAIN_EVERY records of this workload, so FULL means something went wrong
 * (runlog then counts the refused record as dropped, and the store shows
 * it): like any other failure, of the call or of a drain, it makes the run
 * exit 1. One function for every call: each sink function is then
 * a call and a tail call. */
static void check(runlog_status s) {
    if (s == RUNLOG_STATUS_OK && ++since_drain == DRAIN_EVERY) {
        since_drain = 0;
        s = drain_all();
    }
    if (s != RUNLOG_STATUS_OK) {
        failed(s);
    }
}

void sink_start(const char *run_id, const char *experiment) {
    runlog_status s =
        runlog_init_static(runlog_buffer, sizeof runlog_buffer, run_id, experiment, &log);
    if (s != RUNLOG_STATUS_OK) {
        failed(s);
    }
}

void sink_i64(const char *name, int64_t value) {
    check(runlog_log_i64(log, name, value, NULL));
}

void sink_f64(const char *name, double value) {
    check(runlog_log_f64(log, name, value, NULL));
}

void sink_text(const char *name, const char *value) {
    check(runlog_log_str(log, name, value, NULL));
}

void sink_f64_list(const char *name, const double *values, size_t len) {
    check(runlog_log_f64_list(log, name, values, len, NULL));
}

void sink_i64_list(const char *name, const int64_t *values, size_t len) {
    check(runlog_log_i64_list(log, name, values, len, NULL));
}

void sink_artifact(const char *path, const void *content, size_t len) {
    check(runlog_upload(log, path, content, len, NULL));
}

/* Prints `n` in decimal on the host console. */
static void print_unsigned(unsigned n) {
    char digits[12];
    char *p = digits + sizeof digits;
    *--p = 0;
    do {
        *--p = (char)('0' + n % 10);
        n /= 10;
    } while (n != 0);
    semihosting_print(p);
}

int sink_finish(void) {
    /* RunEnd (finished), then send what is left. */
    runlog_status s = runlog_close(log, 0);
    if (s != RUNLOG_STATUS_OK && s != RUNLOG_STATUS_TIMEOUT) {
        failed(s);
    }
    s = drain_all();
    if (s != RUNLOG_STATUS_OK) {
        failed(s);
    }
    uart_flush(UART0_BASE);
    if (first_failure != RUNLOG_STATUS_OK) {
        /* Numbers, not text, as the Rust firmware: the status is runlog.h's
         * enum value (RUNLOG_STATUS_FULL is 8, ...), so that no description
         * table is linked. A firmware that wants the text calls
         * runlog_status_str(status) here instead (docs/firmware.md: what
         * that adds). */
        semihosting_print("firmware-c: failed: runlog status ");
        print_unsigned((unsigned)first_failure);
        semihosting_print("\n");
        return 1;
    }
    semihosting_print("firmware-c: done\n");
    return 0;
}
