"""Helpers for the runlog Python tests: the real `runlog` binary and its store.

The binary is $RUNLOG_BIN, else target/release/runlog in the repository
(`cargo build --release -p runlog-uploader`). Without it the tests that need
it skip, and fail when CI=true.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def _missing(what):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing (CI=true: a missing component is a failure)")
    pytest.skip(f"{what} is missing")


@pytest.fixture(scope="session")
def runlog_bin():
    path = Path(os.environ.get("RUNLOG_BIN", REPO / "target" / "release" / "runlog"))
    if not path.is_file():
        _missing(f"the runlog binary ({path}; cargo build --release -p runlog-uploader)")
    return path


class Cli:
    """The runlog command line, run in one scratch directory (its store is ./.runlog)."""

    def __init__(self, exe, cwd):
        self.exe = exe
        self.cwd = cwd

    def run(self, *args, check=True, timeout=120, env=None):
        full_env = dict(os.environ)
        full_env.pop("RUNLOG_TRACKING_URI", None)
        full_env.update(env or {})
        proc = subprocess.run(
            [str(self.exe), *map(str, args)],
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"runlog {' '.join(map(str, args))} exited {proc.returncode}\n"
                f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
        return proc

    def python(self, script, *args, **kw):
        """`runlog run -- python SCRIPT`: the way users run a training script."""
        return self.run("run", "--", sys.executable, script, *args, **kw)

    def drain(self, spool):
        self.run("drain", "--spool", spool, "--once")

    def info(self, run_id):
        return json.loads(self.run("history", "info", "-r", run_id, "-o", "json").stdout)

    def last(self):
        return json.loads(self.run("history", "last", "-o", "json").stdout)

    def artifact(self, run_id, path):
        out = subprocess.run(
            [str(self.exe), "history", "info", "-r", run_id, "-a", path],
            cwd=self.cwd,
            capture_output=True,
            timeout=60,
            check=True,
        )
        return out.stdout


@pytest.fixture
def cli(runlog_bin, tmp_path):
    return Cli(runlog_bin, tmp_path)


def metrics(info):
    """{name: (kind, last value)} of a `history info -o json` document."""
    return {m["name"]: (m["kind"], m["last"][m["kind"]]) for m in info["metrics"]}
