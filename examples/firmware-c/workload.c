/* What the C example firmware logs: metrics of every kind, a repeated
 * scalar and a small artifact, through the sink that the build links
 * (runlog_sink.c, or raw_sink.c for the footprint baseline).
 *
 * The values are fixed so that the end-to-end test (tests/tests/firmware_qemu.rs)
 * can check that each one arrives intact; keep the two in step. */
#include <stdint.h>

#include "sink.h"
#include "uart.h"

#define RUN_ID "qemu-c-run"
#define EXPERIMENT "firmware-c"
#define LOSS_STEPS 500

static const char artifact_path[] = "calibration/table.csv";
static const char artifact[] = "channel,gain,offset\n"
                               "0,1.0000,0.0000\n"
                               "1,0.9975,-0.0125\n"
                               "2,1.0031,0.0042\n"
                               "3,0.9990,0.0008\n";

int main(void) {
    uart_init(UART0_BASE);

    static const double calibration[] = {0.5, -1.25, 1e-300, 6.02214076e23};
    static const int64_t histogram[] = {0, 1, -1, INT64_MAX, INT64_MIN, 42};

    sink_start(RUN_ID, EXPERIMENT);
    sink_i64("batch_size", 32);
    sink_i64("offset_ns", -1234567890123LL);
    sink_f64("learning_rate", 0.001);
    sink_f64("pi", 3.14159265358979323846);
    sink_text("board", "mps2-an386");
    sink_f64_list("calibration", calibration, 4);
    sink_i64_list("histogram", histogram, 6);
    for (uint32_t i = 0; i < LOSS_STEPS; i++) {
        /* Exact IEEE arithmetic: the host recomputes it bit for bit. */
        sink_f64("loss", 1.0 / (double)(i + 1));
    }
    sink_i64("steps", LOSS_STEPS);
    sink_artifact(artifact_path, artifact, sizeof artifact - 1);
    return sink_finish();
}
