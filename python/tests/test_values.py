"""Every kind of value a Python program logs reaches the store with its type:
through `runlog.open` into a spool, then the real `runlog drain` into SQLite."""

import json
import math
import tracemalloc
from fractions import Fraction

import numpy as np
import pytest

import runlog
from conftest import metrics


def logged(cli, log_calls, run_id="values"):
    """Runs `log_calls(logger)`, drains the spool, returns the run's metrics."""
    logger = runlog.open(spool_dir=cli.cwd / "spool", run_id=run_id, experiment="py")
    log_calls(logger)
    with pytest.raises(runlog.Error) as e:
        logger.close(timeout=0)
    assert e.value.status == runlog.Status.TIMEOUT  # no uploader yet: kept in the spool
    cli.drain(cli.cwd / "spool")
    info = cli.info(run_id)
    assert info["run"]["status"] == "FINISHED"
    assert info["run"]["dropped"] == 0 and info["run"]["lost_records"] == 0
    return metrics(info)


def test_scalars_keep_their_type(cli):
    def calls(log):
        log.log("int", 7)
        log.log("negative", -(2**63))
        log.log("bool", True)
        log.log("float", 0.5)
        log.log("str", "héllo ✓")
        log.log("empty str", "")
        log.log("np.float64", np.float64(1.25))
        log.log("np.float32", np.float32(0.5))
        log.log("np.int32", np.int32(-3))
        log.log("np 0-d", np.array(4.5))
        log.log("fraction", Fraction(1, 4))

    assert logged(cli, calls) == {
        "int": ("int", 7),
        "negative": ("int", -(2**63)),
        "bool": ("int", 1),
        "float": ("float", 0.5),
        "str": ("text", "héllo ✓"),
        "empty str": ("text", ""),
        "np.float64": ("float", 1.25),
        "np.float32": ("float", 0.5),
        "np.int32": ("int", -3),
        "np 0-d": ("float", 4.5),
        "fraction": ("float", 0.25),
    }


def test_nan_and_infinities_are_kept_values(cli):
    def calls(log):
        log.log("nan", math.nan)
        log.log("inf", math.inf)
        log.log("-inf", -math.inf)
        log.log("list", [1.0, math.nan, math.inf])

    got = logged(cli, calls)
    assert got["nan"] == ("float", "NaN")
    assert got["inf"] == ("float", "Infinity")
    assert got["-inf"] == ("float", "-Infinity")
    assert got["list"] == ("float_list", [1.0, "NaN", "Infinity"])


def test_lists_tuples_and_arrays(cli):
    def calls(log):
        log.log("ints", [1, 2, 3])
        log.log("tuple", (1, 2.5))
        log.log("mixed", [1, np.float32(0.5), True])
        log.log("empty", [])
        log.log("f64", np.array([0.5, 1.5]))
        log.log("i64", np.arange(4))
        log.log("f32", np.array([0.5, 0.25], dtype=np.float32))
        log.log("u8", np.array([1, 255], dtype=np.uint8))
        log.log("u64 big", np.array([2**64 - 1], dtype=np.uint64))
        log.log("bool arr", np.array([True, False]))
        log.log("strided", np.arange(10.0)[::3])
        log.log("big endian", np.array([1.5, 2.5], dtype=">f8"))
        log.log("matrix view", np.arange(3.0).view(np.ndarray))

    assert logged(cli, calls) == {
        "ints": ("int_list", [1, 2, 3]),
        "tuple": ("float_list", [1.0, 2.5]),
        "mixed": ("float_list", [1.0, 0.5, 1.0]),
        "empty": ("int_list", []),
        "f64": ("float_list", [0.5, 1.5]),
        "i64": ("int_list", [0, 1, 2, 3]),
        "f32": ("float_list", [0.5, 0.25]),
        "u8": ("int_list", [1, 255]),
        "u64 big": ("float_list", [float(2**64 - 1)]),
        "bool arr": ("int_list", [1, 0]),
        "strided": ("float_list", [0.0, 3.0, 6.0, 9.0]),
        "big endian": ("float_list", [1.5, 2.5]),
        "matrix view": ("float_list", [0.0, 1.0, 2.0]),
    }


class Sub(np.ndarray):
    """A subclass whose __array_interface__ lies: never read."""

    @property
    def __array_interface__(self):
        return {"data": (8, False), "typestr": "<f8", "shape": (1 << 40,), "strides": None, "version": 3}


def test_array_subclass_cannot_forge_a_pointer(cli):
    def calls(log):
        log.log("sub", np.arange(3.0).view(Sub))

    assert logged(cli, calls) == {"sub": ("float_list", [0.0, 1.0, 2.0])}


@pytest.mark.parametrize(
    "dtype,copies", [(np.float64, False), (np.int64, False), (np.float32, True), (np.int32, True)]
)
def test_arrays_read_without_a_copy_where_the_dtype_allows(tmp_path, dtype, copies):
    """float64 and int64 arrays go to the C list call in place; other dtypes
    are converted once (NumPy allocations are visible to tracemalloc)."""
    arr = np.ones(1_000_000, dtype=dtype)
    with runlog.open(spool_dir=tmp_path, ring_capacity=1 << 26) as logger:
        tracemalloc.start()
        logger.log("big", arr)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    if copies:
        assert peak >= 8_000_000, peak
    else:
        assert peak < 100_000, peak


def test_upload_kinds(cli):
    src = cli.cwd / "weights.bin"
    src.write_bytes(bytes(range(256)) * 4)

    def calls(log):
        log.upload("text.txt", "a\x00b ✓")
        log.upload("bytes.bin", b"\x00\xff")
        log.upload("bytearray.bin", bytearray(b"ba"))
        log.upload("memoryview.bin", memoryview(b"mv"))
        log.upload("big.bin", b"x" * (300 * 1024))  # above 1/8 of the ring: staged as a file
        log.upload_file("file.bin", src)
        log.upload_file("file2.bin", str(src))
        with open(src, "rb") as f:
            log.upload_file("fileobj.bin", f)

    logged(cli, calls, run_id="uploads")
    want = {
        "text.txt": "a\x00b ✓".encode(),
        "bytes.bin": b"\x00\xff",
        "bytearray.bin": b"ba",
        "memoryview.bin": b"mv",
        "big.bin": b"x" * (300 * 1024),
        "file.bin": src.read_bytes(),
        "file2.bin": src.read_bytes(),
        "fileobj.bin": src.read_bytes(),
    }
    for path, content in want.items():
        assert cli.artifact("uploads", path) == content, path


def test_get_logger_is_one_object_and_the_alias(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNLOG_SPOOL", str(tmp_path))
    assert runlog.get_azureml_logger is runlog.get_logger
    logger = runlog.get_logger()
    assert logger is runlog.get_azureml_logger()
    assert logger.log("from the global logger", 1).ticket >= 1
    assert list(tmp_path.glob("*.ring")), "the process-wide logger writes into RUNLOG_SPOOL"


def test_steps_params_and_tags_reach_the_store(cli):
    """log(..., step=), log_param and set_tag over the C calls, drained into SQLite."""
    logger = runlog.open(spool_dir=cli.cwd / "spool", run_id="training", experiment="py")
    for i in range(3):
        logger.log("loss", 1.0 / (i + 1), step=10 * i)
    logger.log("epoch", 2, step=7)
    logger.log_param("lr", 0.01)
    logger.log_param("batch_size", 32)
    logger.log_param("lr", 0.01)  # the same value again is fine, as in MLflow
    with pytest.raises(runlog.Error) as e:
        logger.log_param("lr", 0.02)
    assert e.value.status == runlog.Status.PARAM_CONFLICT
    assert "lr" in e.value.message
    logger.set_tag("team", "vision")
    logger.set_tag("team", "speech")  # the last value wins
    with pytest.raises(runlog.Error) as e:
        logger.log("loss", 0.5, step=-1)
    assert e.value.status == runlog.Status.INVALID_ARGUMENT
    with pytest.raises(runlog.Error) as e:
        logger.close(timeout=0)
    assert e.value.status == runlog.Status.TIMEOUT  # no uploader yet: kept in the spool
    cli.drain(cli.cwd / "spool")
    info = cli.info("training")
    assert info["run"]["params"] == {"lr": "0.01", "batch_size": "32"}
    assert info["run"]["tags"]["team"] == "speech"
    loss = json.loads(
        cli.run("-o", "json", "history", "info", "-r", "training", "-m", "loss").stdout
    )
    assert [(p["step"], p["value"]["float"]) for p in loss["points"]] == [
        (0, 1.0),
        (10, 0.5),
        (20, 1.0 / 3),
    ]
    epoch = json.loads(
        cli.run("-o", "json", "history", "info", "-r", "training", "-m", "epoch").stdout
    )
    assert [(p["step"], p["value"]["int"]) for p in epoch["points"]] == [(7, 2)]


def test_threads_share_one_logger(cli):
    """Four Python threads logging through one logger: every record arrives."""
    import threading

    def calls(log):
        def work(k):
            for i in range(2_000):
                log.log(f"thread {k}", i)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    info_metrics = logged(cli, calls, run_id="threads")
    assert info_metrics == {f"thread {k}": ("int", 1_999) for k in range(4)}
    counts = {m["name"]: m["count"] for m in cli.info("threads")["metrics"]}
    assert counts == {f"thread {k}": 2_000 for k in range(4)}
