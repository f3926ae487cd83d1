"""The original Azure ML Workbench example, with only its import line changed,
run the way a user runs it: `runlog run -- python original_example.py`."""

import shutil

from conftest import HERE, metrics


def test_original_example_under_runlog_run(cli):
    shutil.copy(HERE / "original_example.py", cli.cwd)
    out = cli.python("original_example.py")
    assert "FINISHED (exit code 0)" in out.stderr, out.stderr
    info = cli.last()
    run = info["run"]
    assert run["status"] == "FINISHED"
    assert run["exit_code"] == 0
    assert run["dropped"] == 0 and run["lost_records"] == 0
    # Every metric with its type kept.
    assert metrics(info) == {
        "simple integer value": ("int", 7),
        "simple float value": ("float", 3.141592),
        "simple string value": ("text", "this is a string metric"),
        "chart data points": ("int_list", [1, 3, 5, 10, 6, 4]),
        "my metric 1": ("int", 1),
        "my metric 2": ("int", 2),
    }
    assert [a["path"] for a in info["artifacts"]] == ["artifact/path"]
    assert cli.artifact(run["run_id"], "artifact/path") == b"This is a text-based artifact"


def test_wait_returns_only_once_committed(cli):
    """Both waits of the example return OK under `runlog run`: the ticket is
    acknowledged by the uploader, so the metric is already in the store when
    wait() returns (checked by reading the store from inside the script)."""
    script = cli.cwd / "waits.py"
    script.write_text(
        "import json, os, subprocess, sys\n"
        "from runlog import get_azureml_logger\n"
        "logger = get_azureml_logger()\n"
        "logger.log('my metric 1', 1).wait()\n"
        "out = subprocess.run([sys.argv[1], 'history', 'info', '-r', os.environ['RUNLOG_RUN_ID'],"
        " '-o', 'json'], capture_output=True, text=True, check=True).stdout\n"
        "names = [m['name'] for m in json.loads(out)['metrics']]\n"
        "assert names == ['my metric 1'], names\n"
        "print('committed before wait returned')\n"
    )
    out = cli.python(script.name, cli.exe)
    assert "committed before wait returned" in out.stdout, out.stdout + out.stderr
