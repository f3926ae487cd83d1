"""ns per `logger.log("loss", 0.5)` from Python, beside the MLflow client's
`log_metric` (synchronous=False: the enqueue; and synchronous) against a real
`mlflow server`, measured the same way in the same process.

Run it through scripts/bench-python.sh, which starts the MLflow server and runs
this under `runlog run` (so an uploader drains the ring while it logs):
    runlog run -- python bench_log.py http://127.0.0.1:PORT
Without a URI only the runlog side runs.

Method, for every row: each call timed alone with time.perf_counter_ns (the
timer's own cost, measured the same way, is printed and NOT subtracted), after
a warm-up; the median and p99 of those per-call times. runlog's row is also
measured in batches of 1,000 calls (ns per call per batch: median and p99 of
the batches), which leaves the timer out.
"""

import gc
import statistics
import sys
import time

import runlog

N_RUNLOG = 200_000
BATCH = 1_000
N_BATCHES = 300
N_ASYNC = 2_000
N_SYNC = 100


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def row(name, xs, unit="ns"):
    med, p99 = statistics.median(xs), pct(xs, 0.99)
    print(f"{name:<48} median {med:>12,.0f} {unit}   p99 {p99:>12,.0f} {unit}   (n={len(xs)})")
    return med


def per_call(f, n):
    clock = time.perf_counter_ns
    out = [0] * n
    for i in range(n):
        t0 = clock()
        f(i)
        out[i] = clock() - t0
    return out


def main():
    uri = sys.argv[1] if len(sys.argv) > 1 else None
    gc.disable()
    timer = per_call(lambda i: None, N_RUNLOG)
    row("timer + empty lambda call (overhead, not subtracted)", timer)

    # The process-wide logger, as a training script gets it (1 MiB ring),
    # drained by `runlog run`'s uploader. Calls come in bursts of BATCH with a
    # 2 ms pause (untimed) between them, as in a training loop, so the
    # uploader keeps up and the figure is the call's cost, not the ring
    # being full (a program that logs faster than the drain, ~1M/s, for
    # longer than the ring holds waits for room: see docs/uploader.md).
    logger = runlog.get_logger()
    log = logger.log
    clock = time.perf_counter_ns
    for _ in range(20):
        for _ in range(BATCH):
            log("loss", 0.5)
        time.sleep(0.002)
    calls = []
    for _ in range(N_RUNLOG // BATCH):
        calls += per_call(lambda i: log("loss", 0.5), BATCH)
        time.sleep(0.002)
    rl = row('runlog logger.log("loss", 0.5), per call', calls)
    batches = []
    for _ in range(N_BATCHES):
        t0 = clock()
        for _ in range(BATCH):
            log("loss", 0.5)
        batches.append((clock() - t0) / BATCH)
        time.sleep(0.002)
    rb = row(f'runlog logger.log("loss", 0.5), batches of {BATCH:,}', batches)
    logger.flush(timeout=120)
    gc.enable()

    if not uri:
        return
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("runlog-python-bench")
    with mlflow.start_run():
        for i in range(50):
            mlflow.log_metric("warm", 0.5, step=i)
        ops = []
        enq = per_call(lambda i: ops.append(mlflow.log_metric("async_loss", 0.5, step=i, synchronous=False)), N_ASYNC)
        t0 = time.perf_counter()
        for op in ops:
            op.wait()
        drained = time.perf_counter() - t0
        ma = row("mlflow log_metric(synchronous=False), enqueue", enq)
        ms = row("mlflow log_metric (synchronous)", per_call(lambda i: mlflow.log_metric("sync_loss", 0.5, step=i), N_SYNC))
    print(f"(mlflow async: {N_ASYNC:,} metrics durable {drained:.2f} s after the last enqueue)")
    print(f"ratio mlflow async enqueue / runlog log: {ma / rl:,.0f}x per call, {ma / rb:,.0f}x vs batches")
    print(f"ratio mlflow synchronous / runlog log: {ms / rl:,.0f}x per call")


if __name__ == "__main__":
    main()
