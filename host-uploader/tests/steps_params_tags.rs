//! Steps, params and tags end to end: `examples/train_steps.cpp` (C++17,
//! built with -Wall -Wextra -Werror -pedantic against librunlog.a) run under
//! the real `runlog run`, then read back through `runlog history`, through
//! `runlog serve` with the `mlflow` Python client, and from a real
//! `mlflow server` the run was drained into.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use runlog_core::{Record, RunStatus};
use serde_json::Value as Json;

/// What the `mlflow` client sees of run argv[3] in experiment argv[2].
const READ_RUN: &str = r#"
import json, sys
from mlflow.tracking import MlflowClient
c = MlflowClient(sys.argv[1])
exp = c.get_experiment_by_name(sys.argv[2])
runs = c.search_runs([exp.experiment_id], filter_string="attributes.run_name = '%s'" % sys.argv[3])
# A real server names the run after the runlog run id; runlog serve also uses it as its id.
r = runs[0] if runs else c.get_run(sys.argv[3])
assert r.info.experiment_id == exp.experiment_id
hist = {k: [[m.step, m.value] for m in sorted(c.get_metric_history(r.info.run_id, k), key=lambda m: m.step)]
        for k in ("train/loss", "val/acc")}
tags = {k: v for k, v in r.data.tags.items() if not k.startswith("mlflow.")}
print(json.dumps({"status": r.info.status, "params": r.data.params, "tags": tags, "history": hist}))
"#;

/// Builds `examples/train_steps.cpp` into `dir`.
fn build_train_steps(dir: &Path) -> PathBuf {
    build_example(dir, "examples/train_steps.cpp", "train_steps")
}

/// Runs the example under `runlog [--tracking-uri URI] run`; returns the run id.
fn run_example(exe: &Path, work: &Path, uri: Option<&str>, experiment: &str) -> String {
    fs::create_dir_all(work).unwrap();
    let mut cmd = Command::new(runlog_bin());
    if let Some(uri) = uri {
        cmd.args(["--tracking-uri", uri]);
    }
    let out = cmd
        .args(["run", "--experiment", experiment, "--"])
        .arg(exe)
        .current_dir(work)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "runlog run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("refused as expected: param \"lr\" already has the value \"0.01\""),
        "{stdout}"
    );
    stdout.lines().last().unwrap().trim().to_string()
}

fn in_dir(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(runlog_bin())
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "runlog {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The example's loss at `step` (as train_steps.cpp computes it).
fn loss(step: i64) -> f64 {
    2.0 * (-0.01 * 2.0 * step as f64).exp() + 0.05
}

/// What every reader must see: the params, the tag, and both histories by step.
fn check_mlflow_view(v: &Json) {
    assert_eq!(v["status"], "FINISHED");
    assert_eq!(
        v["params"],
        serde_json::json!({"lr": "0.01", "batch_size": "32", "optimizer": "sgd"})
    );
    assert_eq!(v["tags"]["model"], "resnet18");
    let steps = |k: &str| -> Vec<i64> {
        v["history"][k]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[0].as_i64().unwrap())
            .collect()
    };
    assert_eq!(steps("train/loss"), (0..200).collect::<Vec<_>>());
    assert_eq!(
        steps("val/acc"),
        (0..20).map(|i| 9 + 10 * i).collect::<Vec<_>>()
    );
    let acc19 = &v["history"]["val/acc"][1];
    assert_eq!(acc19[0], 19);
    assert_eq!(acc19[1].as_f64().unwrap(), 1.0 - loss(19) / 2.5);
    assert_eq!(
        v["history"]["train/loss"][57][1].as_f64().unwrap(),
        loss(57)
    );
}

#[test]
fn cpp_trainer_steps_params_tags_through_history_serve_and_mlflow() {
    let Some(py) = mlflow_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let exe = build_train_steps(tmp.path());

    // 1. Into the embedded store.
    let work = tmp.path().join("local");
    let run_id = run_example(&exe, &work, None, "steps");
    let info: Json = serde_json::from_str(&in_dir(
        &work,
        &["-o", "json", "history", "info", "-r", &run_id],
    ))
    .unwrap();
    assert_eq!(
        info["run"]["params"],
        serde_json::json!({"lr": "0.01", "batch_size": "32", "optimizer": "sgd"})
    );
    assert_eq!(info["run"]["tags"]["model"], "resnet18");
    let acc = info["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "val/acc")
        .unwrap();
    assert_eq!(
        (acc["count"].as_u64(), acc["last_step"].as_i64()),
        (Some(20), Some(199))
    );
    // Every value with its step: JSON, TSV and the table.
    let points: Json = serde_json::from_str(&in_dir(
        &work,
        &[
            "-o", "json", "history", "info", "-r", &run_id, "-m", "val/acc",
        ],
    ))
    .unwrap();
    let steps: Vec<i64> = points["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["step"].as_i64().unwrap())
        .collect();
    assert_eq!(steps, (0..20).map(|i| 9 + 10 * i).collect::<Vec<_>>());
    assert_eq!(
        points["points"][0]["value"]["float"].as_f64().unwrap(),
        1.0 - loss(9) / 2.5
    );
    let tsv = in_dir(
        &work,
        &[
            "-o", "tsv", "history", "info", "-r", &run_id, "-m", "val/acc",
        ],
    );
    let tsv_steps: Vec<&str> = tsv
        .lines()
        .skip(1)
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(tsv_steps.first(), Some(&"9"), "{tsv}");
    assert_eq!(tsv_steps.last(), Some(&"199"), "{tsv}");
    let listed = in_dir(&work, &["history", "info", "-r", &run_id, "-m", "val/acc"]);
    assert!(listed.starts_with("val/acc (20 values)\n"), "{listed}");
    let second = listed.lines().nth(3).unwrap().trim_start();
    assert!(second.starts_with("19 "), "{listed}");
    // TSV: a params section and the tag.
    let tsv = in_dir(&work, &["-o", "tsv", "history", "info", "-r", &run_id]);
    assert!(tsv.contains("param\tlr\t\t\t\t\t0.01"), "{tsv}");
    assert!(tsv.contains("tag\tmodel\t\t\t\t\tresnet18"), "{tsv}");
    assert!(tsv.contains("metric\tval/acc\tfloat\t20\t199"), "{tsv}");
    // The table: params, tags, and both charts over the same steps 0..199.
    let table = in_dir(&work, &["history", "info", "-r", &run_id]);
    let section = |title: &str| -> Vec<String> {
        let at = table
            .find(&format!("\n{title} ("))
            .unwrap_or_else(|| panic!("{title} in {table}"));
        table[at + 1..]
            .lines()
            .skip(2)
            .take_while(|l| !l.is_empty())
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    };
    assert_eq!(
        section("params"),
        ["batch_size 32", "lr 0.01", "optimizer sgd"],
        "{table}"
    );
    assert_eq!(section("tags"), ["model resnet18"], "{table}");
    for chart in [
        "train/loss (200 points, x = step)",
        "val/acc (20 points, x = step)",
    ] {
        let at = table
            .find(chart)
            .unwrap_or_else(|| panic!("{chart} in {table}"));
        let axis = table[at..].lines().nth(5).unwrap();
        assert!(
            axis.contains("└0 ") && axis.trim_end().ends_with("199"),
            "{chart}: {axis}"
        );
    }

    // 2. `runlog serve` over that store, read with the mlflow client.
    let port = free_port();
    let _serve = start_serve(&work.join(".runlog"), port, &[]);
    let uri = format!("http://127.0.0.1:{port}");
    let served: Json = serde_json::from_str(
        python(&py, READ_RUN, &[&uri, "steps", &run_id])
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    check_mlflow_view(&served);

    // 3. A real mlflow server the run is drained into.
    let port = free_port();
    let _mlflow = start_mlflow(&py, &tmp.path().join("mlflow"), port);
    let uri = format!("http://127.0.0.1:{port}");
    let remote_id = run_example(&exe, &tmp.path().join("remote"), Some(&uri), "steps");
    let real: Json = serde_json::from_str(
        python(&py, READ_RUN, &[&uri, "steps", &remote_id])
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    check_mlflow_view(&real);
    assert_eq!(real["params"], served["params"]);
    assert_eq!(real["history"], served["history"]);

    // 4. Two producers of one run disagreeing on a param (each logger only
    //    checks its own calls): both destinations keep the first value and
    //    mark the refused one with a tag; the stream is not blocked.
    let store = tmp.path().join("conflict-store");
    for (d, dest) in [store.to_str().unwrap(), uri.as_str()]
        .into_iter()
        .enumerate()
    {
        // A drain deletes the rings it finished: each destination gets its own.
        for (i, lr) in ["0.01", "0.5"].into_iter().enumerate() {
            let dir = tmp.path().join(format!("conflict-{d}-{i}"));
            let mut w = RingWriter::create(&dir, "disagree", "steps", 1 << 16);
            w.push(&Record::Param {
                key: "lr",
                value: lr,
            });
            w.push(&Record::Tag {
                key: "writer",
                value: &i.to_string(),
            });
            w.end(RunStatus::Finished);
            // Over HTTP the drain keeps its local store in the working directory.
            let cwd = tmp.path().join(format!("conflict-cwd-{d}"));
            fs::create_dir_all(&cwd).unwrap();
            let drained = Command::new(runlog_bin())
                .args(["--tracking-uri", dest, "drain", "--spool"])
                .arg(&dir)
                .arg("--once")
                .current_dir(&cwd)
                .output()
                .unwrap();
            let (ok, out, err) = (
                drained.status.success(),
                String::from_utf8_lossy(&drained.stdout).into_owned(),
                String::from_utf8_lossy(&drained.stderr).into_owned(),
            );
            assert!(ok, "drain into {dest}: {out}{err}");
            if i == 1 {
                assert!(
                    err.contains("param \"lr\" already has the value \"0.01\""),
                    "{dest}: {err}"
                );
            }
        }
    }
    let (ok, out, err) = runlog(&[
        "--tracking-uri",
        store.to_str().unwrap(),
        "-o",
        "json",
        "history",
        "info",
        "-r",
        "disagree",
    ]);
    assert!(ok, "{err}");
    let local: Json = serde_json::from_str(&out).unwrap();
    assert_eq!(local["run"]["params"]["lr"], "0.01");
    assert_eq!(local["run"]["tags"]["runlog.param_conflict.lr"], "0.5");
    assert_eq!(
        local["run"]["tags"]["writer"], "1",
        "a tag's last value wins"
    );
    let script = "import sys, json\nfrom mlflow.tracking import MlflowClient\nc = MlflowClient(sys.argv[1])\nr = c.search_runs([c.get_experiment_by_name('steps').experiment_id], filter_string=\"attributes.run_name = 'disagree'\")[0]\nprint(json.dumps({'params': r.data.params, 'tags': r.data.tags}))";
    let remote: Json =
        serde_json::from_str(python(&py, script, &[&uri]).lines().last().unwrap()).unwrap();
    assert_eq!(remote["params"]["lr"], "0.01");
    assert_eq!(remote["tags"]["runlog.param_conflict.lr"], "0.5");
    assert_eq!(remote["tags"]["writer"], "1");
}
