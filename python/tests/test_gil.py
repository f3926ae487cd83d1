"""Waiting releases the GIL, and Ctrl-C interrupts a wait."""

import os
import signal
import threading
import time

import pytest

import runlog


def test_wait_releases_the_gil(tmp_path):
    """While the main thread waits (no uploader: it times out after 1 s),
    another Python thread keeps running Python code."""
    logger = runlog.open(spool_dir=tmp_path)
    pending = logger.log("a", 1)
    count = 0
    stop = threading.Event()

    def spin():
        nonlocal count
        while not stop.is_set():
            count += 1

    t = threading.Thread(target=spin)
    t.start()
    time.sleep(0.05)
    before = count
    with pytest.raises(runlog.Error) as e:
        pending.wait(timeout=1.0)
    during = count - before
    stop.set()
    t.join()
    assert e.value.status == runlog.Status.TIMEOUT
    assert "no uploader is draining" in e.value.message
    # Holding the GIL for the whole second would leave the spinner at most a
    # switch interval (5 ms) of work; released, it runs for the whole second.
    assert during > 100_000, during


def test_ctrl_c_interrupts_a_long_wait(tmp_path):
    logger = runlog.open(spool_dir=tmp_path)
    pending = logger.log("a", 1)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        pending.wait(timeout=60)
    timer.join()
    assert time.monotonic() - start < 30, "the wait ran to its timeout instead of stopping at Ctrl-C"
