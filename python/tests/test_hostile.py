"""Hostile Python input: every bad call raises runlog.Error with the C API's
status, never crashes or hangs, and loses none of the good records logged
around it (checked in the store after the real drain).

docs/hostile-input.md counts these cases (the 'Python objects' rows)."""

import math

import numpy as np
import pytest

import runlog
from runlog import Status

S = Status


class IndexRaises:
    def __index__(self):
        raise ValueError("boom")


class FloatRaises:
    def __float__(self):
        raise RuntimeError("boom")


class HugeIndex:
    def __index__(self):
        return 2**80


class Clears:
    """An element that empties the list it is in while being read."""

    def __init__(self, victim):
        self.victim = victim

    def __float__(self):
        self.victim.clear()
        return 1.0


def clearing_list():
    victim = [1.0, 2.0, 3.0]
    victim.insert(1, Clears(victim))
    return victim


# (case, what to call on a logger, expected status)
VALUE_CASES = [
    ("None", lambda g: g.log("v", None), S.INVALID_ARGUMENT),
    ("dict", lambda g: g.log("v", {}), S.INVALID_ARGUMENT),
    ("set", lambda g: g.log("v", {1}), S.INVALID_ARGUMENT),
    ("object", lambda g: g.log("v", object()), S.INVALID_ARGUMENT),
    ("bytes value", lambda g: g.log("v", b"12"), S.INVALID_ARGUMENT),
    ("complex", lambda g: g.log("v", 1 + 2j), S.INVALID_ARGUMENT),
    ("nested list", lambda g: g.log("v", [[1]]), S.INVALID_ARGUMENT),
    ("str in list", lambda g: g.log("v", [1, "a"]), S.INVALID_ARGUMENT),
    ("None in list", lambda g: g.log("v", [None]), S.INVALID_ARGUMENT),
    ("int 2**64", lambda g: g.log("v", 2**64), S.INVALID_ARGUMENT),
    ("int below i64", lambda g: g.log("v", -(2**63) - 1), S.INVALID_ARGUMENT),
    ("big int in list", lambda g: g.log("v", [1, 2**70]), S.INVALID_ARGUMENT),
    ("__index__ raises", lambda g: g.log("v", IndexRaises()), S.INVALID_ARGUMENT),
    ("__float__ raises", lambda g: g.log("v", FloatRaises()), S.INVALID_ARGUMENT),
    ("__index__ 2**80", lambda g: g.log("v", HugeIndex()), S.INVALID_ARGUMENT),
    ("list emptied while read", lambda g: g.log("v", clearing_list()), S.INVALID_ARGUMENT),
    ("2-D array", lambda g: g.log("v", np.ones((2, 2))), S.INVALID_ARGUMENT),
    ("object array", lambda g: g.log("v", np.array([1, None])), S.INVALID_ARGUMENT),
    ("complex array", lambda g: g.log("v", np.ones(2, dtype=complex)), S.INVALID_ARGUMENT),
    ("str array", lambda g: g.log("v", np.array(["a"])), S.INVALID_ARGUMENT),
    ("datetime array", lambda g: g.log("v", np.array(["2020-01-01"], dtype="M8[D]")), S.INVALID_ARGUMENT),
    ("huge list", lambda g: g.log("v", [0.5] * 2_000_000), S.LIST_TOO_LONG),
    ("huge int list", lambda g: g.log("v", list(range(2_000_000))), S.LIST_TOO_LONG),
    ("huge array", lambda g: g.log("v", np.zeros(2_000_000)), S.LIST_TOO_LONG),
    ("huge str", lambda g: g.log("v", "x" * (1 << 20)), S.VALUE_TOO_LONG),
    ("surrogate str", lambda g: g.log("v", "\ud800"), S.INVALID_UTF8),
]

NAME_CASES = [
    ("None name", lambda g: g.log(None, 1), S.INVALID_ARGUMENT),
    ("int name", lambda g: g.log(5, 1), S.INVALID_ARGUMENT),
    ("bytes name", lambda g: g.log(b"loss", 1), S.INVALID_ARGUMENT),
    ("empty name", lambda g: g.log("", 1), S.EMPTY_NAME),
    ("251-byte name", lambda g: g.log("x" * 251, 1), S.NAME_TOO_LONG),
    ("NUL in name", lambda g: g.log("a\0b", 1), S.INVALID_ARGUMENT),
    ("surrogate name", lambda g: g.log("\udcff", 1), S.INVALID_UTF8),
    ("step not int", lambda g: g.log("v", 1, step="3"), S.INVALID_ARGUMENT),
    ("param value list", lambda g: g.log_param("k", [1]), S.INVALID_ARGUMENT),
    ("tag key None", lambda g: g.set_tag(None, "v"), S.INVALID_ARGUMENT),
]

PATH_CASES = [
    ("absolute", lambda g: g.upload("/etc/passwd", "x"), S.UNSAFE_PATH),
    ("dot-dot", lambda g: g.upload("../x", "x"), S.UNSAFE_PATH),
    ("inner dot-dot", lambda g: g.upload("a/../../x", "x"), S.UNSAFE_PATH),
    ("backslash", lambda g: g.upload("a\\b", "x"), S.UNSAFE_PATH),
    ("empty path", lambda g: g.upload("", "x"), S.UNSAFE_PATH),
    ("empty segment", lambda g: g.upload("a//b", "x"), S.UNSAFE_PATH),
    ("control char", lambda g: g.upload("a\nb", "x"), S.UNSAFE_PATH),
    ("256-byte path", lambda g: g.upload("x" * 256, "x"), S.UNSAFE_PATH),
    ("NUL in path", lambda g: g.upload("a\0b", "x"), S.INVALID_ARGUMENT),
    ("surrogate path", lambda g: g.upload("\ud800", "x"), S.INVALID_UTF8),
    ("int path", lambda g: g.upload(5, "x"), S.INVALID_ARGUMENT),
    ("int content", lambda g: g.upload("a", 5), S.INVALID_ARGUMENT),
    ("None content", lambda g: g.upload("a", None), S.INVALID_ARGUMENT),
    ("list content", lambda g: g.upload("a", [1, 2]), S.INVALID_ARGUMENT),
    ("surrogate content", lambda g: g.upload("a", "\ud800"), S.INVALID_UTF8),
    ("missing file", lambda g: g.upload_file("a", "/nonexistent/runlog-test"), S.IO),
    ("directory file", lambda g: g.upload_file("a", "/"), S.IO),
    ("NUL in file path", lambda g: g.upload_file("a", "x\0y"), S.INVALID_ARGUMENT),
    ("int file", lambda g: g.upload_file("a", 5), S.INVALID_ARGUMENT),
    ("unsafe path, file", lambda g: g.upload_file("../a", __file__), S.UNSAFE_PATH),
]

WAIT_CASES = [
    ("negative timeout", lambda g: g.log("v", 1).wait(-1), S.INVALID_ARGUMENT),
    ("NaN timeout", lambda g: g.log("v", 1).wait(math.nan), S.INVALID_ARGUMENT),
    ("str timeout", lambda g: g.log("v", 1).wait("1"), S.INVALID_ARGUMENT),
    ("flush bad timeout", lambda g: g.flush(timeout=[]), S.INVALID_ARGUMENT),
]

ALL_CASES = VALUE_CASES + NAME_CASES + PATH_CASES + WAIT_CASES


def test_every_bad_call_raises_the_c_status_and_loses_nothing(cli):
    spool = cli.cwd / "spool"
    logger = runlog.open(spool_dir=spool, run_id="hostile")
    seen = []
    for i, (case, call, status) in enumerate(ALL_CASES):
        logger.log("good", i)
        with pytest.raises(runlog.Error) as e:
            call(logger)
        seen.append((case, e.value.status, status))
        assert isinstance(e.value.status, Status), case
        assert e.value.message, case
    logger.log("good", len(ALL_CASES))
    wrong = [(case, got, want) for case, got, want in seen if got != want]
    assert not wrong, wrong
    with pytest.raises(runlog.Error):
        logger.close(timeout=0)
    cli.drain(spool)
    info = cli.info("hostile")
    run = info["run"]
    assert run["status"] == "FINISHED"
    assert run["dropped"] == 0 and run["lost_records"] == 0
    # Only the good records (ticket 0 is the run's start) and the wait cases'
    # good `log("v", 1)` calls; no bad call wrote anything.
    good = {m["name"]: m for m in info["metrics"]}
    assert good["good"]["count"] == len(ALL_CASES) + 1
    assert good["good"]["last"]["int"] == len(ALL_CASES)
    assert good["v"]["count"] == 3  # the three log("v", 1) of the wait cases that got that far
    assert info["artifacts"] == []


def test_closed_logger(tmp_path):
    logger = runlog.open(spool_dir=tmp_path)
    pending = logger.log("a", 1)
    with pytest.raises(runlog.Error):
        logger.close(timeout=0)
    for call in (lambda: logger.log("a", 1), lambda: logger.upload("a", "x"), lambda: pending.wait(0), logger.flush):
        with pytest.raises(runlog.Error) as e:
            call()
        assert e.value.status == Status.CLOSED
    with pytest.raises(runlog.Error) as e:
        logger.close()
    assert e.value.status == Status.CLOSED


@pytest.mark.parametrize(
    "kwargs,status",
    [
        ({"ring_capacity": -1}, S.INVALID_ARGUMENT),
        ({"ring_capacity": "big"}, S.INVALID_ARGUMENT),
        ({"ring_capacity": 1}, S.INVALID_ARGUMENT),
        ({"run_id": "../escape"}, S.INVALID_ARGUMENT),
        ({"run_id": 5}, S.INVALID_ARGUMENT),
        ({"experiment": "e\0x"}, S.INVALID_ARGUMENT),
        ({"full_timeout_ms": 2**40}, S.INVALID_ARGUMENT),
        ({"spool_dir": "/proc/runlog-cannot-create"}, S.IO),
    ],
)
def test_bad_open_options(tmp_path, kwargs, status):
    kwargs.setdefault("spool_dir", tmp_path)
    with pytest.raises(runlog.Error) as e:
        runlog.open(**kwargs)
    assert e.value.status == status, e.value


def test_error_carries_status_and_message():
    err = runlog.Error(7, "why")
    assert err.status is Status.UNSAFE_PATH and err.message == "why"
    assert str(err) == "UNSAFE_PATH: why"
    assert isinstance(err, Exception)
