/* runlog from C on a Cortex-M4 (QEMU mps2-an386): logs metrics of every kind,
 * a repeated scalar and a small artifact through runlog.h into a static
 * buffer, and drains it to UART0 as COBS + CRC frames.
 *
 * The values are fixed so that the end-to-end test (tests/tests/firmware_qemu.rs)
 * can check that each one arrives intact; keep the two in step. */
#include <stddef.h>
#include <stdint.h>

#include "runlog.h"
#include "semihosting.h"
#include "uart.h"

#define RUN_ID "qemu-c-run"
#define EXPERIMENT "firmware-c"
#define LOSS_STEPS 500
/* Records logged between two drains, as an idle loop or a timer would drain. */
#define DRAIN_EVERY 32

/* Everything runlog keeps lives here: its handle, frame scratch and ring. */
static uint8_t runlog_buffer[4096] __attribute__((aligned(64)));

static const char artifact_path[] = "calibration/table.csv";
static const char artifact[] = "channel,gain,offset\n"
                               "0,1.0000,0.0000\n"
                               "1,0.9975,-0.0125\n"
                               "2,1.0031,0.0042\n"
                               "3,0.9990,0.0008\n";

static ptrdiff_t uart_sink(void *ctx, const uint8_t *data, size_t len) {
    (void)ctx;
    uart_write(UART0_BASE, data, len);
    return (ptrdiff_t)len;
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

/* Prints the failing call's source line and status number on the host
 * console, and returns nonzero. Numbers, not text, as the Rust firmware
 * does: a line number instead of the call's name, and the status as
 * runlog.h's enum value (RUNLOG_STATUS_FULL is 8, ...), so that no
 * description table is linked. A firmware that wants the text calls
 * runlog_status_str(status) or runlog_last_error() here instead; what that
 * adds is in docs/firmware.md. */
static int fail(unsigned line, runlog_status status) {
    semihosting_print("firmware-c: main.c:");
    print_unsigned(line);
    semihosting_print(": runlog status ");
    print_unsigned((unsigned)status);
    semihosting_print("\n");
    return 1;
}

/* Sends everything the ring holds. */
static runlog_status drain_all(runlog_logger *log) {
    size_t written;
    do {
        runlog_status s = runlog_drain(log, uart_sink, NULL, SIZE_MAX, &written);
        if (s != RUNLOG_STATUS_OK) {
            return s;
        }
    } while (written != 0);
    return RUNLOG_STATUS_OK;
}

/* Log calls since the last drain, counted from 1: see `again`. */
static unsigned since_drain = 1;
/* Whether the last call is being made again after a FULL. */
static int retrying;

/* Runs after each log call, which returned *s, and says whether to make the
 * call again. The drain policy: drain every DRAIN_EVERY records, as an idle
 * loop or a timer would (here after the call, counted from 1: the same bytes
 * as draining before every DRAIN_EVERY-th call). On a first FULL (records
 * larger than planned) it drains and asks for the call again. *s becomes a
 * failed drain's status. One function for both: each LOG site then costs a
 * call and a loop. */
static int again(runlog_logger *log, runlog_status *s) {
    if (*s == RUNLOG_STATUS_FULL && !retrying) {
        retrying = 1;
        since_drain = 0;
        *s = drain_all(log);
        return *s == RUNLOG_STATUS_OK;
    }
    retrying = 0;
    if (*s == RUNLOG_STATUS_OK && ++since_drain == DRAIN_EVERY) {
        since_drain = 0;
        *s = drain_all(log);
    }
    return 0;
}

/* Logs through `fn` under the drain policy, once more after a drain on FULL.
 * The call is written once per site (every call site costs flash), and a
 * failure ends the run with the site's line number. */
#define LOG(fn, ...)                                                                               \
    do {                                                                                           \
        runlog_status s_;                                                                          \
        do {                                                                                       \
            s_ = fn(log, __VA_ARGS__);                                                             \
        } while (again(log, &s_));                                                                 \
        if (s_ != RUNLOG_STATUS_OK) {                                                              \
            return fail(__LINE__, s_);                                                             \
        }                                                                                          \
    } while (0)

int main(void) {
    uart_init(UART0_BASE);

    runlog_logger *log = NULL;
    runlog_status s =
        runlog_init_static(runlog_buffer, sizeof runlog_buffer, RUN_ID, EXPERIMENT, &log);
    if (s != RUNLOG_STATUS_OK) {
        return fail(__LINE__, s);
    }

    static const double calibration[] = {0.5, -1.25, 1e-300, 6.02214076e23};
    static const int64_t histogram[] = {0, 1, -1, INT64_MAX, INT64_MIN, 42};

    LOG(runlog_log_i64, "batch_size", 32, NULL);
    LOG(runlog_log_i64, "offset_ns", -1234567890123LL, NULL);
    LOG(runlog_log_f64, "learning_rate", 0.001, NULL);
    LOG(runlog_log_f64, "pi", 3.14159265358979323846, NULL);
    LOG(runlog_log_str, "board", "mps2-an386", NULL);
    LOG(runlog_log_f64_list, "calibration", calibration, 4, NULL);
    LOG(runlog_log_i64_list, "histogram", histogram, 6, NULL);
    for (uint32_t i = 0; i < LOSS_STEPS; i++) {
        /* Exact IEEE arithmetic: the host recomputes it bit for bit. */
        LOG(runlog_log_f64, "loss", 1.0 / (double)(i + 1), NULL);
    }
    LOG(runlog_log_i64, "steps", LOSS_STEPS, NULL);

    runlog_ticket last = 0;
    LOG(runlog_upload, artifact_path, artifact, sizeof artifact - 1, &last);

    /* RunEnd (finished), then send what is left. */
    s = runlog_close(log, 0);
    if (s != RUNLOG_STATUS_OK && s != RUNLOG_STATUS_TIMEOUT) {
        return fail(__LINE__, s);
    }
    s = drain_all(log);
    if (s != RUNLOG_STATUS_OK) {
        return fail(__LINE__, s);
    }
    uart_flush(UART0_BASE);
    semihosting_print("firmware-c: done\n");
    return 0;
}
