/* The footprint baseline's sink: each value written to UART0 as raw bytes
 * (name, then value), with no runlog, no framing, no checksum and no
 * buffering. Only scripts/footprint.sh uses it (`make baseline`), to measure
 * what runlog adds to a C firmware: the workload (workload.c) is the same
 * object code in both builds. */
#include <stddef.h>
#include <stdint.h>

#include "semihosting.h"
#include "sink.h"
#include "uart.h"

static void put_text(const char *s) {
    size_t n = 0;
    while (s[n] != 0) {
        n++;
    }
    uart_write(UART0_BASE, (const uint8_t *)s, n);
}

static void put_bytes(const void *p, size_t n) { uart_write(UART0_BASE, (const uint8_t *)p, n); }

void sink_start(const char *run_id, const char *experiment) {
    put_text(run_id);
    put_text(experiment);
}

void sink_i64(const char *name, int64_t value) {
    put_text(name);
    put_bytes(&value, sizeof value);
}

void sink_f64(const char *name, double value) {
    put_text(name);
    put_bytes(&value, sizeof value);
}

void sink_text(const char *name, const char *value) {
    put_text(name);
    put_text(value);
}

void sink_f64_list(const char *name, const double *values, size_t len) {
    put_text(name);
    put_bytes(values, len * sizeof *values);
}

void sink_i64_list(const char *name, const int64_t *values, size_t len) {
    put_text(name);
    put_bytes(values, len * sizeof *values);
}

void sink_artifact(const char *path, const void *content, size_t len) {
    put_text(path);
    put_bytes(content, len);
}

int sink_finish(void) {
    uint8_t ok = 1;
    put_bytes(&ok, 1);
    uart_flush(UART0_BASE);
    semihosting_print("firmware-c baseline: done\n");
    return 0;
}
