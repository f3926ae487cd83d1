/* The footprint baseline for the C firmware: main.c's values written to
 * UART0 as raw bytes (name, then value), with no runlog, no framing, no
 * checksum and no buffering. Only scripts/footprint.sh uses it, to measure
 * what runlog adds to a C firmware (`make baseline`). */
#include <stddef.h>
#include <stdint.h>

#include "semihosting.h"
#include "uart.h"

#define LOSS_STEPS 500

static const char artifact[] = "channel,gain,offset\n"
                               "0,1.0000,0.0000\n"
                               "1,0.9975,-0.0125\n"
                               "2,1.0031,0.0042\n"
                               "3,0.9990,0.0008\n";

static void put_text(const char *s) {
    size_t n = 0;
    while (s[n] != 0) {
        n++;
    }
    uart_write(UART0_BASE, (const uint8_t *)s, n);
}

static void put_bytes(const void *p, size_t n) { uart_write(UART0_BASE, (const uint8_t *)p, n); }

static void put_i64(const char *name, int64_t v) {
    put_text(name);
    put_bytes(&v, sizeof v);
}

static void put_f64(const char *name, double v) {
    put_text(name);
    put_bytes(&v, sizeof v);
}

int main(void) {
    uart_init(UART0_BASE);
    static const double calibration[] = {0.5, -1.25, 1e-300, 6.02214076e23};
    static const int64_t histogram[] = {0, 1, -1, INT64_MAX, INT64_MIN, 42};

    put_text("qemu-c-run");
    put_text("firmware-c");
    put_i64("batch_size", 32);
    put_i64("offset_ns", -1234567890123LL);
    put_f64("learning_rate", 0.001);
    put_f64("pi", 3.14159265358979323846);
    put_text("board");
    put_text("mps2-an386");
    put_text("calibration");
    put_bytes(calibration, sizeof calibration);
    put_text("histogram");
    put_bytes(histogram, sizeof histogram);
    for (uint32_t i = 0; i < LOSS_STEPS; i++) {
        put_f64("loss", 1.0 / (double)(i + 1));
    }
    put_i64("steps", LOSS_STEPS);
    put_text("calibration/table.csv");
    put_bytes(artifact, sizeof artifact - 1);
    uint8_t ok = 1;
    put_bytes(&ok, 1);
    uart_flush(UART0_BASE);
    semihosting_print("firmware-c baseline: done\n");
    return 0;
}
