/* Where the workload (workload.c) sends its values: runlog (runlog_sink.c,
 * the firmware) or raw UART bytes (raw_sink.c, the footprint baseline). The
 * C counterpart of the Rust firmware's `Sink` trait: the workload's call
 * sites are the same object code in both builds, so scripts/footprint.sh
 * counts what runlog adds (library and sink) and not the workload itself,
 * as it does for the Rust firmware. */
#ifndef FIRMWARE_SINK_H
#define FIRMWARE_SINK_H

#include <stddef.h>
#include <stdint.h>

/* The run begins. */
void sink_start(const char *run_id, const char *experiment);
/* An integer metric. */
void sink_i64(const char *name, int64_t value);
/* A float metric. */
void sink_f64(const char *name, double value);
/* A string metric (a tag). */
void sink_text(const char *name, const char *value);
/* A list of floats (a chart). */
void sink_f64_list(const char *name, const double *values, size_t len);
/* A list of integers (a chart). */
void sink_i64_list(const char *name, const int64_t *values, size_t len);
/* A small file. */
void sink_artifact(const char *path, const void *content, size_t len);
/* The run ends: everything logged is on the wire when this returns. Returns
 * main's exit status: 0, or 1 when anything could not be logged or sent. */
int sink_finish(void);

#endif
