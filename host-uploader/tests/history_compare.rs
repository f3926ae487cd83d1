//! `runlog history compare | export`, multi-run `--chart`, store discovery,
//! empty histories, short flags and the `--` hint: the real binary on real
//! stores.
//!
//! Stores are filled as a device fills them: records pushed through a
//! runlog-core ring, drained as COBS + CRC frames into a capture file, and
//! stored by the real `runlog drain --input`.

mod fixture;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};

use fixture::{capture_of, drain_capture, metric, RunSpec};
use runlog_core::RunStatus;
use runlog_uploader::sink::{Item, MetricValue};
use serde_json::{json, Value as Json};

const T0: u64 = 1_750_000_000_000;
const R1: &str = "c0ffee0100000000000000000000aaaa";
const R2: &str = "c0ffee0200000000000000000000bbbb";
const R3: &str = "d00d000300000000000000000000cccc";
const LOSS_POINTS: i64 = 100;

/// What one run logs.
enum Log {
    F64(&'static str, f64, Option<u64>),
    I64(&'static str, i64, Option<u64>),
    Str(&'static str, &'static str),
    Param(&'static str, &'static str),
}

/// The byte stream of `runs` (id, experiment, start, what it logs), as a
/// device sends it: each log a ms after the last, the end a minute in.
fn frames(runs: &[(&'static str, &'static str, u64, Vec<Log>)]) -> Vec<u8> {
    let specs: Vec<RunSpec> = runs
        .iter()
        .map(|(run_id, experiment, start, logs)| {
            let mut items: Vec<Item> = logs
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let time_ms = start + 1 + i as u64;
                    match l {
                        Log::F64(n, v, step) => metric(n, MetricValue::F64(*v), *step, time_ms),
                        Log::I64(n, v, step) => metric(n, MetricValue::I64(*v), *step, time_ms),
                        Log::Str(n, v) => metric(n, MetricValue::Str((*v).into()), None, time_ms),
                        Log::Param(k, v) => Item::Param {
                            key: (*k).into(),
                            value: (*v).into(),
                        },
                    }
                })
                .collect();
            items.push(Item::RunEnd {
                status: RunStatus::Finished,
                time_ms: Some(start + 60_000),
                exit_code: None,
            });
            RunSpec {
                run_id,
                experiment,
                start_ms: *start,
                items,
            }
        })
        .collect();
    capture_of(&specs)
}

fn runlog_in(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_runlog"));
    c.current_dir(dir)
        .args(args)
        .env("COLUMNS", "120")
        .env_remove("RUNLOG_TRACKING_URI");
    c
}

fn loss(run: usize, i: i64) -> f64 {
    (1.0 + run as f64) / (1.0 + i as f64) + 0.01 * ((i * 7 + run as i64) % 5) as f64
}

/// Three runs of one sweep: params `lr` (all differ), `batch` (one differs),
/// `seed` (same); `loss` at steps 0..100 in every run, `acc` in two, and a
/// few values of every kind in R3.
fn sweep_store(dir: &Path) -> std::path::PathBuf {
    let store = dir.join("store");
    let mut runs = Vec::new();
    for (k, (id, lr, batch)) in [(R1, "0.1", "32"), (R2, "0.2", "32"), (R3, "0.3", "64")]
        .into_iter()
        .enumerate()
    {
        let mut logs = vec![
            Log::Param("lr", lr),
            Log::Param("batch", batch),
            Log::Param("seed", "7"),
        ];
        for i in 0..LOSS_POINTS {
            logs.push(Log::F64("loss", loss(k, i), Some(i as u64)));
        }
        if k < 2 {
            for i in 0..10 {
                logs.push(Log::F64(
                    "acc",
                    0.5 + 0.01 * (i + k) as f64,
                    Some(i as u64 * 10),
                ));
            }
        }
        if k == 2 {
            logs.push(Log::I64("big", i64::MAX, None));
            logs.push(Log::I64("big", i64::MIN + 1, None));
            logs.push(Log::F64("odd", f64::NAN, None));
            logs.push(Log::F64("odd", f64::INFINITY, None));
            logs.push(Log::F64("odd", f64::NEG_INFINITY, None));
            logs.push(Log::F64("odd", 0.1, None));
            logs.push(Log::Str("note", "a, \"quoted\"\nline"));
        }
        runs.push((id, "sweep", T0 + 1000 * k as u64, logs));
    }
    drain_capture(&store, &frames(&runs));
    store
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn hist(store: &Path, args: &[&str]) -> Output {
    runlog_in(Path::new("/"), args)
        .arg("--tracking-uri")
        .arg(store)
        .output()
        .unwrap()
}

fn fails(out: Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty());
    assert!(err.starts_with("runlog: ") && err.contains(needle), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn compare_shows_params_side_by_side_and_each_metrics_last_min_max() {
    let dir = tempfile::tempdir().unwrap();
    let store = sweep_store(dir.path());
    // Prefixes work; a run named twice counts once; -r and positionals mix.
    let doc: Json = serde_json::from_str(&ok(
        hist(
            &store,
            &[
                "history", "compare", "c0ffee01", R2, "-r", "d00d", "-r", R1, "-o", "json",
            ],
        ),
        "compare",
    ))
    .unwrap();
    let ids: Vec<&str> = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [R1, R2, R3]);
    let params: BTreeMap<&str, &Json> = doc["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p))
        .collect();
    assert_eq!(
        params["lr"]["values"],
        json!({R1: "0.1", R2: "0.2", R3: "0.3"})
    );
    assert_eq!(params["lr"]["differs"], json!(true));
    assert_eq!(params["batch"]["differs"], json!(true));
    assert_eq!(params["seed"]["differs"], json!(false));

    let metrics: BTreeMap<&str, &Json> = doc["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap(), m))
        .collect();
    assert_eq!(
        metrics.keys().copied().collect::<Vec<_>>(),
        ["acc", "big", "loss", "note", "odd"]
    );
    for (k, id) in [R1, R2, R3].into_iter().enumerate() {
        let m = &metrics["loss"]["runs"][id];
        let all: Vec<f64> = (0..LOSS_POINTS).map(|i| loss(k, i)).collect();
        let min = all.iter().copied().fold(f64::INFINITY, f64::min);
        let max = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(
            m["last"],
            json!({"float": loss(k, LOSS_POINTS - 1)}),
            "{id}"
        );
        assert_eq!(m["min"].as_f64().unwrap(), min, "{id}");
        assert_eq!(m["max"].as_f64().unwrap(), max, "{id}");
        assert_eq!(m["count"], json!(LOSS_POINTS));
        assert_eq!(m["last_step"], json!(LOSS_POINTS - 1));
    }
    // A run without the metric is absent; NaN and infinities are not a min or max.
    assert!(metrics["acc"]["runs"].get(R3).is_none());
    assert_eq!(metrics["odd"]["runs"][R3]["min"], json!(0.1));
    assert_eq!(metrics["odd"]["runs"][R3]["max"], json!(0.1));
    assert_eq!(metrics["note"]["runs"][R3]["min"], Json::Null);

    // The table: the runs as columns, differing params marked.
    let table = ok(hist(&store, &["history", "compare", R1, R2, R3]), "table");
    let lr = table.lines().find(|l| l.contains("lr")).unwrap();
    assert!(
        lr.starts_with('*') && lr.contains("0.1") && lr.contains("0.3"),
        "{table}"
    );
    let seed = table.lines().find(|l| l.contains("seed")).unwrap();
    assert!(!seed.starts_with('*'), "{table}");
    let head = table.lines().find(|l| l.starts_with("METRIC")).unwrap();
    assert!(
        head.contains("c0ffee01") && head.contains("d00d0003"),
        "{table}"
    );
    assert!(table.contains("loss") && table.contains("min") && table.contains("max"));

    // TSV: one column per run.
    let tsv = ok(
        hist(&store, &["-o", "tsv", "history", "compare", R1, R3]),
        "tsv",
    );
    let rows: Vec<Vec<&str>> = tsv.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows[0], ["section", "name", "stat", R1, R3]);
    let lr_row = rows
        .iter()
        .find(|r| r[0] == "param" && r[1] == "lr")
        .unwrap();
    assert_eq!(lr_row[3..], ["0.1", "0.3"]);
    let acc_max = rows
        .iter()
        .find(|r| r[0] == "metric" && r[1] == "acc" && r[2] == "max")
        .unwrap();
    assert_eq!(acc_max[3..], [(0.5 + 0.09f64).to_string().as_str(), ""]);

    // -m narrows; misuse is a clear error.
    let only: Json = serde_json::from_str(&ok(
        hist(
            &store,
            &["-o", "json", "history", "compare", R1, R2, "-m", "acc"],
        ),
        "-m",
    ))
    .unwrap();
    assert_eq!(only["metrics"].as_array().unwrap().len(), 1);
    fails(
        hist(&store, &["history", "compare", R1]),
        "at least two runs",
    );
    fails(hist(&store, &["history", "compare", R1, "zzz"]), "\"zzz\"");
    fails(
        hist(&store, &["history", "compare", R1, "c0ffee"]),
        "ambiguous",
    );
    fails(
        hist(&store, &["history", "compare", R1, R2, "-m", "nope"]),
        "\"nope\"",
    );
    fails(
        hist(&store, &["-o", "csv", "history", "compare", R1, R2]),
        "-o csv",
    );
}

/// (fill colour, stroke colour) counts of an SVG's polylines with at least `min_points` points.
fn svg_lines(svg: &str, min_points: usize) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .filter(|n| {
            n.attribute("points")
                .unwrap_or("")
                .split_whitespace()
                .count()
                >= min_points
        })
        .map(|n| n.attribute("stroke").unwrap_or("").to_string())
        .collect()
}

#[test]
fn compare_chart_draws_one_line_per_run_with_a_legend() {
    let dir = tempfile::tempdir().unwrap();
    let store = sweep_store(dir.path());
    let svg = dir.path().join("cmp.svg");
    let out = hist(
        &store,
        &[
            "history", "compare", "-r", R1, "-r", R2, "-r", R3, "-m", "loss", "--chart",
        ],
    );
    assert!(!out.status.success(), "--chart needs a file");
    let out = runlog_in(
        Path::new("/"),
        &["history", "compare", R1, R2, R3, "-m", "loss"],
    )
    .arg("--chart")
    .arg(&svg)
    .arg("--tracking-uri")
    .arg(&store)
    .output()
    .unwrap();
    ok(out, "compare --chart svg");
    let text = std::fs::read_to_string(&svg).unwrap();
    let lines = svg_lines(&text, LOSS_POINTS as usize);
    assert_eq!(lines.len(), 3, "one line per run: {lines:?}");
    assert_eq!(
        lines.iter().collect::<BTreeSet<_>>().len(),
        3,
        "three colours"
    );
    for id in [R1, R2, R3] {
        assert!(text.contains(id), "the legend names {id}");
    }

    // Every chartable metric: loss (3 runs), acc (2), big and odd (1; finite points only).
    let png = dir.path().join("cmp.png");
    let out = runlog_in(Path::new("/"), &["history", "compare", R1, R2, R3])
        .arg("--chart")
        .arg(&png)
        .arg("--tracking-uri")
        .arg(&store)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    ok(out, "compare --chart png");
    assert!(stderr.contains("4 metric(s) of 3 runs"), "{stderr}");
    let decoder = png::Decoder::new(std::fs::File::open(&png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).unwrap();
    assert_eq!((frame.width, frame.height), (900, 4 * 280));
    // The first three palette colours are each drawn (lines and legend).
    let px: Vec<(u8, u8, u8)> = buf[..frame.buffer_size()]
        .chunks(frame.line_size / frame.width as usize)
        .map(|c| (c[0], c[1], c[2]))
        .collect();
    for colour in [(31, 119, 180), (255, 127, 14), (44, 160, 44)] {
        let n = px.iter().filter(|p| **p == colour).count();
        assert!(n > 100, "colour {colour:?} drawn in {n} pixels");
    }
}

#[test]
fn export_writes_every_point_exactly_in_csv_tsv_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let store = sweep_store(dir.path());
    // CSV is the default.
    let csv = ok(
        hist(&store, &["history", "export", "-r", "d00d", "-m", "loss"]),
        "csv",
    );
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "metric,step,time_ms,kind,value");
    assert_eq!(lines.len() as i64, 1 + LOSS_POINTS);
    for (i, l) in lines[1..].iter().enumerate() {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f[0], "loss");
        assert_eq!(f[1], i.to_string());
        assert_eq!(f[3], "float");
        assert_eq!(
            f[4].parse::<f64>().unwrap(),
            loss(2, i as i64),
            "exact: {l}"
        );
    }

    // Every metric of the run; integers exact, non-finite spelled, text quoted.
    let all = ok(
        hist(&store, &["history", "export", "-r", R3, "-o", "csv"]),
        "all",
    );
    assert!(all.contains("big,0,"), "{all}");
    assert!(all.contains(&format!(",int,{}\n", i64::MAX)));
    assert!(all.contains(&format!(",int,{}\n", i64::MIN + 1)));
    for spelled in [",float,NaN\n", ",float,Infinity\n", ",float,-Infinity\n"] {
        assert!(all.contains(spelled), "{spelled}: {all}");
    }
    assert!(all.contains(",text,\"a, \"\"quoted\"\"\nline\"\n"), "{all}");
    let metric_rows = all.lines().filter(|l| l.starts_with("loss,")).count();
    assert_eq!(metric_rows as i64, LOSS_POINTS);

    let tsv = ok(
        hist(
            &store,
            &["-o", "tsv", "history", "export", "-r", R3, "-m", "note"],
        ),
        "tsv",
    );
    assert_eq!(
        tsv.lines().nth(1).unwrap().split('\t').next_back().unwrap(),
        "a, \"quoted\"\\nline"
    );

    let doc: Json = serde_json::from_str(&ok(
        hist(
            &store,
            &[
                "history", "export", "-r", R3, "-m", "big", "-m", "odd", "-o", "json",
            ],
        ),
        "json",
    ))
    .unwrap();
    assert_eq!(doc["run_id"], json!(R3));
    assert_eq!(doc["metrics"][0]["name"], json!("big"));
    let big: Vec<&Json> = doc["metrics"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(big[0]["value"], json!({"int": i64::MAX}));
    assert_eq!(big[1]["value"], json!({"int": i64::MIN + 1}));
    assert_eq!(big[1]["step"], json!(1));
    let odd: Vec<Json> = doc["metrics"][1]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"]["float"].clone())
        .collect();
    assert_eq!(
        odd,
        [
            json!("NaN"),
            json!("Infinity"),
            json!("-Infinity"),
            json!(0.1)
        ]
    );

    fails(
        hist(&store, &["history", "export", "-r", R3, "-m", "nope"]),
        "\"nope\"",
    );
    fails(hist(&store, &["history", "export", "-r", "zzz"]), "\"zzz\"");
}

/// Peak RSS (KiB) of `runlog` exporting `-m m` of run R1 in `store` to /dev/null.
///
/// Measured through a small Python process that forks and execs `runlog`
/// and reads its rusage: a child spawned straight from this test process
/// would start out sharing (and report) this process's own peak.
fn export_peak_kib(store: &Path, format: &str) -> i64 {
    const MEASURE: &str = r#"
import os, sys
pid = os.fork()
if pid == 0:
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
print(usage.ru_maxrss)
"#;
    let out = Command::new("python3")
        .args(["-c", MEASURE, env!("CARGO_BIN_EXE_runlog")])
        .args([
            "history",
            "export",
            "-r",
            R1,
            "-m",
            "m",
            "-o",
            format,
            "--tracking-uri",
        ])
        .arg(store)
        .env_remove("RUNLOG_TRACKING_URI")
        .output()
        .expect("python3 runs (CI installs it)");
    ok(out, "measured export").trim().parse().unwrap()
}

#[test]
fn exporting_a_million_points_streams_in_bounded_memory() {
    const N: i64 = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    let big = dir.path().join("big");
    let run = |n: i64| {
        let logs: Vec<Log> = (0..n)
            .map(|i| Log::F64("m", i as f64 * 0.5, Some(i as u64)))
            .collect();
        frames(&[(R1, "e", T0, logs)])
    };
    drain_capture(&small, &run(1000));
    drain_capture(&big, &run(N));
    // Every point comes out.
    let out = runlog_in(
        Path::new("/"),
        &["history", "export", "-r", R1, "-o", "tsv"],
    )
    .arg("--tracking-uri")
    .arg(&big)
    .output()
    .unwrap();
    let text = ok(out, "export 1M");
    assert_eq!(text.lines().count() as i64, N + 1);
    assert_eq!(
        text.lines().last().unwrap(),
        format!(
            "m\t{}\t{}\tfloat\t{}",
            N - 1,
            T0 + N as u64,
            (N - 1) as f64 * 0.5
        )
    );
    drop(text);
    for format in ["csv", "json"] {
        let base = export_peak_kib(&small, format);
        let peak = export_peak_kib(&big, format);
        eprintln!("export -o {format}: peak RSS {base} KiB for 1000 points, {peak} KiB for {N}");
        // Holding the series would take ~48 MiB (48 bytes a point) on top of the base.
        assert!(
            peak - base < 12 * 1024,
            "-o {format}: 1M points took {peak} KiB, 1000 points {base} KiB"
        );
    }
}

#[test]
fn the_store_is_found_by_walking_up_and_the_tracking_uri_still_wins() {
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("proj");
    let deep = proj.join("src/deep");
    std::fs::create_dir_all(&deep).unwrap();
    drain_capture(
        &proj.join(".runlog"),
        &frames(&[(R1, "e", T0, vec![Log::I64("x", 1, None)])]),
    );

    let list = |cwd: &Path, extra: &[(&str, &Path)], args: &[&str]| -> Json {
        let mut c = runlog_in(cwd, &["-o", "json", "history", "list"]);
        c.args(args);
        for (k, v) in extra {
            c.env(k, v);
        }
        serde_json::from_str(&ok(c.output().unwrap(), "list")).unwrap()
    };
    let ids = |doc: &Json| -> Vec<String> {
        doc["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["run_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&list(&deep, &[], &[])), [R1], "found from a subfolder");
    assert_eq!(ids(&list(&proj, &[], &[])), [R1]);

    // RUNLOG_TRACKING_URI wins over the search; --tracking-uri wins over both.
    let other = dir.path().join("other");
    drain_capture(
        &other,
        &frames(&[(R2, "e", T0, vec![Log::I64("x", 1, None)])]),
    );
    assert_eq!(
        ids(&list(&deep, &[("RUNLOG_TRACKING_URI", &other)], &[])),
        [R2]
    );
    let proj_store = proj.join(".runlog");
    let proj_store = proj_store.to_str().unwrap();
    assert_eq!(
        ids(&list(
            &deep,
            &[("RUNLOG_TRACKING_URI", &other)],
            &["--tracking-uri", proj_store]
        )),
        [R1]
    );

    // drain and run from the subfolder write into the found store, not a new one.
    let capture = dir.path().join("r3.frames");
    std::fs::write(
        &capture,
        frames(&[(R3, "e", T0 + 5, vec![Log::I64("x", 1, None)])]),
    )
    .unwrap();
    let out = runlog_in(&deep, &["drain", "--once", "--input"])
        .arg(&capture)
        .output()
        .unwrap();
    ok(out, "drain from a subfolder");
    let out = runlog_in(&deep, &["run", "-e", "sub", "--", "true"])
        .output()
        .unwrap();
    let run_id = ok(out, "run from a subfolder").trim().to_string();
    assert!(!deep.join(".runlog").exists() && !proj.join("src/.runlog").exists());
    let found = ids(&list(&deep, &[], &[]));
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found.contains(&run_id) && found.contains(&R3.to_string()));
    let doc = list(&deep, &[], &["-e", "sub"]);
    assert_eq!(ids(&doc), [run_id]);

    // Outside any project: `.runlog` in the working directory (not created by a query).
    let lone = dir.path().join("lone");
    std::fs::create_dir(&lone).unwrap();
    assert_eq!(list(&lone, &[], &[]), json!({"runs": []}));
    assert!(!lone.join(".runlog").exists());
}

#[test]
fn an_empty_history_lists_as_empty_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let empty = dir.path().join("empty");
    drain_capture(&empty, &[]);
    for store in [&missing, &empty] {
        let out = hist(store, &["-o", "json", "history", "list"]);
        assert_eq!(
            serde_json::from_str::<Json>(&ok(out, "json")).unwrap(),
            json!({"runs": []})
        );
        let out = hist(store, &["history", "list", "-o", "tsv"]);
        assert_eq!(ok(out, "tsv").lines().count(), 1, "the header only");
        let out = hist(store, &["history", "list"]);
        assert!(String::from_utf8_lossy(&out.stderr).contains("no runs yet"));
        assert!(ok(out, "table").is_empty());
        let out = hist(store, &["-o", "json", "history", "assets"]);
        assert_eq!(
            serde_json::from_str::<Json>(&ok(out, "assets")).unwrap(),
            json!({"assets": []})
        );
    }
    assert!(!missing.exists(), "a query creates no store");
    // A filter matching nothing in a store with runs: the same shapes.
    let store = sweep_store(dir.path());
    let out = hist(&store, &["-o", "json", "history", "list", "-e", "nope"]);
    assert_eq!(
        serde_json::from_str::<Json>(&ok(out, "filter")).unwrap(),
        json!({"runs": []})
    );
    // A run without metrics exports the header / an empty list.
    let bare = dir.path().join("bare");
    drain_capture(&bare, &frames(&[(R1, "e", T0, vec![])]));
    let out = hist(&bare, &["history", "export", "-r", R1]);
    assert_eq!(ok(out, "export"), "metric,step,time_ms,kind,value\n");
    let out = hist(&bare, &["-o", "json", "history", "export", "-r", R1]);
    assert_eq!(
        serde_json::from_str::<Json>(&ok(out, "export json")).unwrap(),
        json!({"run_id": R1, "metrics": []})
    );
}

/// `-X, --long` pairs in `runlog ARGS --help`.
fn short_flags(args: &[&str]) -> Vec<(char, String)> {
    let out = runlog_in(Path::new("/"), args)
        .arg("--help")
        .output()
        .unwrap();
    let help = ok(out, "--help");
    help.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let rest = l.strip_prefix('-')?;
            let c = rest.chars().next()?;
            let long = rest.get(1..)?.strip_prefix(", --")?;
            Some((c, long.split([' ', '=', '<']).next()?.to_string()))
        })
        .collect()
}

#[test]
fn each_short_flag_has_one_meaning_in_every_command() {
    let mut meaning: BTreeMap<char, BTreeSet<String>> = BTreeMap::new();
    let commands: &[&[&str]] = &[
        &[],
        &["run"],
        &["drain"],
        &["serve"],
        &["history"],
        &["history", "list"],
        &["history", "last"],
        &["history", "info"],
        &["history", "promote"],
        &["history", "assets"],
        &["history", "compare"],
        &["history", "export"],
    ];
    let mut seen = 0;
    for c in commands {
        for (short, long) in short_flags(c) {
            seen += 1;
            meaning.entry(short).or_default().insert(long);
        }
    }
    assert!(seen > 15, "the help pages list short flags ({seen})");
    for (short, longs) in &meaning {
        assert_eq!(longs.len(), 1, "-{short} means {longs:?}");
    }
    assert_eq!(meaning[&'n'], BTreeSet::from(["name".to_string()]));
    assert_eq!(meaning[&'l'], BTreeSet::from(["limit".to_string()]));

    // `-l` limits; the old `-n N` of `list` still works (list has no --name).
    let dir = tempfile::tempdir().unwrap();
    let store = sweep_store(dir.path());
    for flag in ["-l", "-n", "--limit"] {
        let doc: Json = serde_json::from_str(&ok(
            hist(&store, &["-o", "json", "history", "list", flag, "2"]),
            flag,
        ))
        .unwrap();
        assert_eq!(doc["runs"].as_array().unwrap().len(), 2, "{flag}");
    }
}

#[test]
fn run_without_dashdash_says_what_to_type() {
    let dir = tempfile::tempdir().unwrap();
    for (args, want) in [
        (&["run", "./train"][..], "runlog run -- ./train"),
        (
            &["run", "-e", "x", "./train", "--lr", "3"],
            "runlog run -e x -- ./train --lr 3",
        ),
        (
            &["--tracking-uri", "s", "run", "./my train", "--epochs=2"],
            "runlog --tracking-uri s run -- './my train' --epochs=2",
        ),
    ] {
        let out = runlog_in(dir.path(), args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("hint: put `--` before the program"), "{err}");
        assert!(err.contains(want), "{args:?}: want {want:?} in {err}");
        assert!(!dir.path().join("s").exists() && !dir.path().join(".runlog").exists());
    }
    // Other usage errors get no such hint.
    let out = runlog_in(dir.path(), &["history", "list", "--bogus"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hint: put `--`"));
}
