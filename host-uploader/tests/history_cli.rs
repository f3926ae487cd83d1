//! `runlog history`: the real binary against a real store.
//!
//! The store is filled by [`fixture::fill`], see there for how.

mod fixture;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use fixture::{Fixture, CURVE_LEN, LOSS_COUNT};

fn runlog(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_runlog"))
        .arg("--tracking-uri")
        .arg(store)
        .args(args)
        .env("COLUMNS", "100")
        .env_remove("RUNLOG_TRACKING_URI")
        .output()
        .expect("run the runlog binary")
}

fn ok(store: &Path, args: &[&str]) -> String {
    let out = runlog(store, args);
    assert!(
        out.status.success(),
        "runlog {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs a command that must fail; returns its stderr.
fn fails(store: &Path, args: &[&str]) -> String {
    let out = runlog(store, args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "runlog {args:?} should fail; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(out.status.code(), Some(1), "exit code of {args:?}");
    assert!(out.stdout.is_empty(), "no output on stdout for {args:?}");
    assert!(err.starts_with("runlog: "), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE") && !err.contains("Backtrace"),
        "{err}"
    );
    err
}

fn json(store: &Path, args: &[&str]) -> Value {
    let mut a = vec!["-o", "json"];
    a.extend_from_slice(args);
    serde_json::from_str(&ok(store, &a)).expect("valid JSON")
}

fn tsv(store: &Path, args: &[&str]) -> Vec<Vec<String>> {
    let mut a = vec!["-o", "tsv"];
    a.extend_from_slice(args);
    ok(store, &a)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

#[test]
fn list_shows_runs_newest_first_in_every_format() {
    let fx = Fixture::new();
    let s = fx.store();

    let table = ok(s, &["history", "list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("RUN") && lines[0].contains("ARTIFACTS"),
        "{table}"
    );
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[1].starts_with(fixture::RUN_LATEST), "{table}");
    assert!(lines[2].starts_with(fixture::RUN_EVAL), "{table}");
    assert!(lines[3].starts_with(fixture::RUN_TRAIN), "{table}");
    assert!(lines[3].contains("FINISHED") && lines[3].contains("2023-11-14 22:13:20"));
    assert!(lines[3].contains("1m 05s"), "{table}");
    assert!(lines[1].contains("running"), "{table}");

    let doc = json(s, &["history", "list"]);
    let runs = doc["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    let train = &runs[2];
    assert_eq!(train["run_id"], fixture::RUN_TRAIN);
    assert_eq!(train["experiment"], "train");
    assert_eq!(train["status"], "FINISHED");
    assert_eq!(train["start_ms"], fixture::T0);
    assert_eq!(train["end_ms"], fixture::T0 + 65_000);
    assert_eq!(train["duration_ms"], 65_000);
    assert_eq!(train["metric_count"], 7);
    assert_eq!(train["artifact_count"], 3);
    assert_eq!(runs[0]["status"], "RUNNING");
    assert!(runs[0]["end_ms"].is_null() && runs[0]["duration_ms"].is_null());
    assert_eq!(runs[1]["status"], "FAILED");

    let rows = tsv(s, &["history", "list"]);
    assert_eq!(
        rows[0],
        [
            "run_id",
            "experiment",
            "status",
            "start_ms",
            "end_ms",
            "duration_ms",
            "metrics",
            "artifacts",
            // Empty for runs never delivered to an MLflow server (mlflow_pg.rs fills it).
            "mlflow_run_id"
        ]
    );
    assert_eq!(rows.len(), 4);
    assert_eq!(
        rows[3],
        [
            fixture::RUN_TRAIN.to_string(),
            "train".into(),
            "FINISHED".into(),
            fixture::T0.to_string(),
            (fixture::T0 + 65_000).to_string(),
            "65000".into(),
            "7".into(),
            "3".into(),
            String::new()
        ]
    );
}

#[test]
fn list_filters_by_experiment_status_and_limit() {
    let fx = Fixture::new();
    let s = fx.store();
    let ids = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["history", "list"];
        a.extend_from_slice(args);
        json(s, &a)["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["run_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(&["--experiment", "train"]),
        [fixture::RUN_LATEST, fixture::RUN_TRAIN]
    );
    assert_eq!(ids(&["-e", "eval"]), [fixture::RUN_EVAL]);
    assert_eq!(ids(&["--status", "failed"]), [fixture::RUN_EVAL]);
    assert_eq!(
        ids(&["-s", "FINISHED", "-e", "train"]),
        [fixture::RUN_TRAIN]
    );
    assert_eq!(
        ids(&["--limit", "2"]),
        [fixture::RUN_LATEST, fixture::RUN_EVAL]
    );
    assert!(ids(&["-e", "nope"]).is_empty());
    // A filter that matches nothing is not an error, but the table says so.
    let out = runlog(s, &["history", "list", "-e", "nope"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no runs match"));
    let err = fails(s, &["history", "list", "--status", "done"]);
    assert!(err.contains("unknown run status \"done\""), "{err}");
}

#[test]
fn info_shows_every_metric_and_artifact() {
    let fx = Fixture::new();
    let s = fx.store();
    let table = ok(s, &["history", "info", "-r", fixture::RUN_TRAIN]);
    assert!(
        table.contains(&format!("run        {}", fixture::RUN_TRAIN)),
        "{table}"
    );
    assert!(table.contains("\nstatus     FINISHED\n"), "{table}");
    assert!(table.contains("metrics (7)"), "{table}");
    let line = |name: &str| -> &str {
        table
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no line for {name} in\n{table}"))
    };
    let loss = line("loss");
    assert!(loss.contains("float") && loss.contains(&LOSS_COUNT.to_string()));
    assert!(
        loss.contains(&fixture::loss(LOSS_COUNT - 1).to_string()),
        "{loss}"
    );
    assert!(
        loss.contains('▁') && loss.contains('█'),
        "sparkline in {loss}"
    );
    assert!(line("epochs").contains(" 3"), "{table}");
    assert!(line("note").contains(r#""hello\tworld""#), "{table}");
    assert!(
        line("curve").contains(&format!("[{CURVE_LEN} values")),
        "{table}"
    );
    assert!(line("bins").contains("[5 values, -2 .. 40]"), "{table}");
    assert!(line("bad").contains("NaN"), "{table}");
    // Braille charts for the list and the repeated scalar, bounded by $COLUMNS.
    assert!(
        table.contains(&format!("loss ({LOSS_COUNT} points, x = step)")),
        "{table}"
    );
    assert!(
        table.contains(&format!("curve ({CURVE_LEN} points, x = index)")),
        "{table}"
    );
    let braille = table
        .lines()
        .filter(|l| l.chars().any(|c| ('\u{2801}'..='\u{28ff}').contains(&c)))
        .count();
    assert!(braille >= 8, "{table}");
    assert!(table.lines().all(|l| l.chars().count() <= 100), "{table}");
    // Artifacts with sizes.
    assert!(table.contains("artifacts (3"), "{table}");
    let w = table
        .lines()
        .find(|l| l.starts_with("model/weights.bin"))
        .unwrap();
    assert!(w.contains(&fixture::weights().len().to_string()), "{w}");
    assert!(w.contains("KiB"), "{w}");

    // A unique prefix is enough.
    let short = ok(s, &["history", "info", "-r", "a1b"]);
    assert_eq!(short, table);
}

#[test]
fn info_json_has_a_stable_shape() {
    let fx = Fixture::new();
    let s = fx.store();
    let doc = json(s, &["history", "info", "-r", fixture::RUN_TRAIN]);
    let run = &doc["run"];
    assert_eq!(run["run_id"], fixture::RUN_TRAIN);
    assert_eq!(run["experiment"], "train");
    assert_eq!(run["status"], "FINISHED");
    assert_eq!(run["start_ms"], fixture::T0);
    assert_eq!(run["duration_ms"], 65_000);
    assert_eq!(run["metric_count"], 7);
    assert_eq!(run["artifact_count"], 3);
    assert!(run["exit_code"].is_null());
    assert_eq!(run["dropped"], 0);
    assert_eq!(run["lost_records"], 0);
    assert_eq!(run["lost_frames"], 0);
    assert!(run["params"].as_object().unwrap().is_empty());
    assert!(run["tags"].as_object().unwrap().is_empty());

    let metrics = doc["metrics"].as_array().unwrap();
    let names: Vec<&str> = metrics
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["bad", "bins", "curve", "epochs", "loss", "lr", "note"]
    );
    let m = |name: &str| metrics.iter().find(|m| m["name"] == name).unwrap();
    assert_eq!(m("loss")["kind"], "float");
    assert_eq!(m("loss")["count"], LOSS_COUNT);
    assert_eq!(m("loss")["last"]["float"], fixture::loss(LOSS_COUNT - 1));
    assert_eq!(m("loss")["last_step"], LOSS_COUNT - 1);
    assert_eq!(m("epochs")["kind"], "int");
    assert_eq!(m("epochs")["last"]["int"], 3);
    assert_eq!(m("epochs")["count"], 1);
    assert_eq!(m("note")["kind"], "text");
    assert_eq!(m("note")["last"]["text"], "hello\tworld");
    assert_eq!(m("lr")["last"]["float"], "Infinity");
    assert_eq!(m("bad")["last"]["float"], "NaN");
    assert_eq!(m("curve")["kind"], "float_list");
    let curve: Vec<f64> = m("curve")["last"]["float_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(curve, fixture::curve());
    assert_eq!(m("bins")["kind"], "int_list");
    assert_eq!(
        m("bins")["last"]["int_list"],
        serde_json::json!([1, -2, 40, 7, 0])
    );

    let arts = doc["artifacts"].as_array().unwrap();
    let paths: Vec<&str> = arts.iter().map(|a| a["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["log.txt", "model/config.json", "model/weights.bin"]);
    assert_eq!(arts[2]["size"], fixture::weights().len());
    assert_eq!(arts[2]["sha256"], fixture::sha256_hex(&fixture::weights()));

    let rows = tsv(s, &["history", "info", "-r", fixture::RUN_TRAIN]);
    assert_eq!(
        rows[0],
        ["section", "name", "kind", "count", "step", "size", "value", "rank"]
    );
    let find = |section: &str, name: &str| {
        rows.iter()
            .find(|r| r[0] == section && r[1] == name)
            .unwrap_or_else(|| panic!("no {section} {name}"))
            .clone()
    };
    assert_eq!(find("run", "status")[6], "FINISHED");
    assert_eq!(find("metric", "note")[6], "hello\\tworld");
    assert_eq!(find("metric", "bins")[6], "1,-2,40,7,0");
    assert_eq!(find("metric", "loss")[3], LOSS_COUNT.to_string());
    assert_eq!(
        find("artifact", "model/weights.bin")[5],
        fixture::weights().len().to_string()
    );
    assert_eq!(find("metric", "loss")[7], "0");
    assert!(rows.iter().all(|r| r.len() == 8));
}

#[test]
fn last_is_info_of_the_newest_run() {
    let fx = Fixture::new();
    let s = fx.store();
    assert_eq!(
        ok(s, &["history", "last"]),
        ok(s, &["history", "info", "-r", fixture::RUN_LATEST])
    );
    let doc = json(s, &["history", "last"]);
    assert_eq!(doc["run"]["run_id"], fixture::RUN_LATEST);
    assert_eq!(doc["run"]["status"], "RUNNING");
}

#[test]
fn artifacts_print_byte_exact_to_stdout_or_a_file() {
    let fx = Fixture::new();
    let s = fx.store();
    let out = runlog(
        s,
        &["history", "info", "-r", "a1b2", "-a", "model/weights.bin"],
    );
    assert!(out.status.success());
    assert_eq!(out.stdout, fixture::weights());

    let target = fx.dir.path().join("w.bin");
    let t = target.to_str().unwrap();
    let out = runlog(
        s,
        &[
            "history",
            "info",
            "-r",
            "a1b2",
            "-a",
            "model/weights.bin",
            "--out",
            t,
        ],
    );
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read(&target).unwrap(), fixture::weights());

    let err = fails(
        s,
        &["history", "info", "-r", "a1b2", "-a", "model/nope.bin"],
    );
    assert!(err.contains("has no artifact \"model/nope.bin\""), "{err}");
    let err = fails(s, &["history", "info", "-r", "a1b2", "-a", "model"]);
    assert!(
        err.contains("is a folder") && err.contains("model/weights.bin"),
        "{err}"
    );
    // A failed --out leaves no file behind.
    let missing = fx.dir.path().join("never.bin");
    fails(
        s,
        &[
            "history",
            "info",
            "-r",
            "a1b2",
            "-a",
            "nope",
            "--out",
            missing.to_str().unwrap(),
        ],
    );
    assert!(!missing.exists());
    assert!(std::fs::read_dir(fx.dir.path()).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains("runlog-part")));
}

#[test]
fn promote_twice_makes_versions_1_and_2_that_outlive_the_run() {
    let fx = Fixture::new();
    let s = fx.store();
    let v1 = json(
        s,
        &[
            "history",
            "promote",
            "-r",
            "a1b2",
            "-ap",
            "model",
            "-n",
            "classifier",
        ],
    );
    assert_eq!(v1["name"], "classifier");
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["run_id"], fixture::RUN_TRAIN);
    assert_eq!(v1["prefix"], "model");
    let files: Vec<&str> = v1["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["model/config.json", "model/weights.bin"]);
    let table = ok(
        s,
        &[
            "history",
            "promote",
            "-r",
            fixture::RUN_TRAIN,
            "--artifact-prefix",
            "model/",
            "-n",
            "classifier",
        ],
    );
    assert!(
        table.starts_with("promoted classifier version 2 from run"),
        "{table}"
    );

    // The copies survive the run's files changing.
    let v1_dir = Path::new(v1["location"].as_str().unwrap()).to_path_buf();
    std::fs::write(
        s.join("artifacts")
            .join(fixture::RUN_TRAIN)
            .join("model/weights.bin"),
        b"overwritten",
    )
    .unwrap();
    assert_eq!(
        std::fs::read(v1_dir.join("model/weights.bin")).unwrap(),
        fixture::weights()
    );
    assert_eq!(v1_dir, s.join("assets/classifier/1"));

    let doc = json(s, &["history", "assets"]);
    let assets = doc["assets"].as_array().unwrap();
    assert_eq!(assets.len(), 1);
    assert_eq!(assets[0]["name"], "classifier");
    let versions: Vec<u64> = assets[0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2]);
    assert_eq!(
        assets[0]["versions"][1]["files"][1]["size"],
        fixture::weights().len()
    );

    let table = ok(s, &["history", "assets"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ASSET"), "{table}");
    assert!(
        lines[1].starts_with("classifier") && lines[1].contains(" 1 "),
        "{table}"
    );
    assert!(
        lines[2].starts_with("classifier") && lines[2].contains(" 2 "),
        "{table}"
    );
    let rows = tsv(s, &["history", "assets"]);
    assert_eq!(rows[0][..3], ["name", "version", "run_id"]);
    assert_eq!(rows[2][..3], ["classifier", "2", fixture::RUN_TRAIN]);
    assert_eq!(rows[2][4], "2");

    // The changed file is now refused, not promoted.
    let err = fails(
        s,
        &[
            "history",
            "promote",
            "-r",
            "a1b2",
            "-ap",
            "model",
            "-n",
            "classifier",
        ],
    );
    assert!(err.contains("changed on disk"), "{err}");
    assert!(!s.join("assets/classifier/3").exists());
    let err = fails(
        s,
        &[
            "history", "promote", "-r", "a1b2", "-ap", "nothing", "-n", "x",
        ],
    );
    assert!(err.contains("no artifacts under \"nothing\""), "{err}");
    let err = fails(
        s,
        &[
            "history", "promote", "-r", "a1b2", "-ap", "log.txt", "-n", "../evil",
        ],
    );
    assert!(err.contains("not a valid asset name"), "{err}");
}

#[test]
fn chart_files_are_drawn_from_the_data() {
    let fx = Fixture::new();
    let s = fx.store();
    let svg_path = fx.dir.path().join("one.svg");
    ok(
        s,
        &[
            "history",
            "info",
            "-r",
            fixture::RUN_EVAL,
            "--chart",
            svg_path.to_str().unwrap(),
        ],
    );
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("valid SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    // The eval run has one chartable metric (acc, logged ACC_COUNT times): one
    // polyline with exactly that many points, rising as the data does.
    let lines: Vec<Vec<(f64, f64)>> = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .map(|n| {
            n.attribute("points")
                .unwrap()
                .split_whitespace()
                .map(|p| {
                    let (x, y) = p.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect()
        })
        .collect();
    let data: Vec<_> = lines
        .iter()
        .filter(|l| l.len() == fixture::ACC_COUNT)
        .collect();
    assert_eq!(
        data.len(),
        1,
        "one data line among {} polylines",
        lines.len()
    );
    let pts = data[0];
    assert!(pts.windows(2).all(|w| w[1].0 > w[0].0), "x increases");
    // SVG y grows downwards: accuracy rises, so y falls.
    assert!(
        pts.windows(2).all(|w| w[1].1 < w[0].1),
        "y follows the data"
    );
    assert!(svg.contains("acc"), "caption names the metric");

    let png_path = fx.dir.path().join("all.png");
    ok(
        s,
        &[
            "history",
            "info",
            "-r",
            "a1b2",
            "--chart",
            png_path.to_str().unwrap(),
        ],
    );
    let decoder = png::Decoder::new(std::fs::File::open(&png_path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).unwrap();
    // Three charts (loss, curve, bins), one 280-pixel panel each.
    assert_eq!((frame.width, frame.height), (900, 3 * 280));
    let bytes = &buf[..frame.buffer_size()];
    let px = frame.color_type.samples();
    let blue = bytes.chunks(px).filter(|p| p[2] > 150 && p[0] < 80).count();
    let white = bytes
        .chunks(px)
        .filter(|p| p.iter().all(|&c| c == 255))
        .count();
    assert!(blue > 1000, "line pixels: {blue}");
    assert!(white > bytes.len() / px / 2, "mostly background");

    let err = fails(
        s,
        &[
            "history",
            "info",
            "-r",
            fixture::RUN_LATEST,
            "--chart",
            svg_path.to_str().unwrap(),
        ],
    );
    assert!(err.contains("nothing to chart"), "{err}");
    let err = fails(s, &["history", "last", "--chart", "x.jpg"]);
    assert!(
        err.contains("nothing to chart") || err.contains(".svg or .png"),
        "{err}"
    );
    let err = fails(s, &["history", "info", "-r", "a1b2", "--chart", "x.jpg"]);
    assert!(err.contains("must end in .svg or .png"), "{err}");
}

#[test]
fn run_id_errors_are_clear() {
    let fx = Fixture::new();
    let s = fx.store();
    let err = fails(s, &["history", "info", "-r", "a1"]);
    assert!(err.contains("ambiguous"), "{err}");
    assert!(
        err.contains(fixture::RUN_TRAIN) && err.contains(fixture::RUN_EVAL),
        "lists candidates: {err}"
    );
    let err = fails(s, &["history", "info", "-r", "zzz"]);
    assert!(
        err.contains("no run has an id starting with \"zzz\""),
        "{err}"
    );
    let err = fails(
        s,
        &["history", "promote", "-r", "zzz", "-ap", "m", "-n", "x"],
    );
    assert!(err.contains("\"zzz\""), "{err}");
}

#[test]
fn an_empty_history_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let nothing = dir.path().join("nothing-here");
    for args in [&["history", "last"][..], &["history", "info", "-r", "abc"]] {
        let err = fails(&nothing, args);
        assert!(err.contains("has no runs yet"), "{err}");
    }
    // `list` is not an error: an empty list (tests/history_compare.rs checks every format).
    let out = runlog(&nothing, &["history", "list"]);
    assert!(out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no runs yet"));
    assert!(!nothing.exists(), "querying must not create a store");

    // A store that exists but holds no runs.
    let empty = dir.path().join("empty");
    runlog_uploader::store::Store::open(&empty).unwrap();
    for args in [&["history", "last"][..], &["history", "info", "-r", "abc"]] {
        let err = fails(&empty, args);
        assert!(err.contains("has no runs yet"), "{err}");
    }
    let out = runlog(&empty, &["-o", "json", "history", "assets"]);
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["assets"], serde_json::json!([]));
}

#[test]
fn a_reader_that_goes_away_is_not_an_error() {
    use std::io::Read;
    use std::process::Stdio;
    let fx = Fixture::new();
    let s = fx.store();
    for args in [
        &["history", "info", "-r", fixture::RUN_EVAL, "-a", "big.bin"][..],
        &["history", "info", "-r", fixture::RUN_TRAIN],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_runlog"))
            .arg("--tracking-uri")
            .arg(s)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 10];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap();
        // The pipe's read end is closed now, like `| head -c 10`.
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {:?}", out.status);
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn concurrent_promotes_get_distinct_versions() {
    let fx = Fixture::new();
    let s = fx.store();
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_runlog"))
                .arg("--tracking-uri")
                .arg(s)
                .args([
                    "-o", "json", "history", "promote", "-r", "a1b", "-ap", "model", "-n", "m",
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut versions: Vec<u64> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            v["version"].as_u64().unwrap()
        })
        .collect();
    versions.sort();
    assert_eq!(versions, [1, 2, 3, 4]);
    for v in 1..=4 {
        let dir = s.join(format!("assets/m/{v}/model"));
        assert_eq!(
            std::fs::read(dir.join("weights.bin")).unwrap(),
            fixture::weights()
        );
    }
    // No staging folders left behind.
    let names: Vec<String> = std::fs::read_dir(s.join("assets/m"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
}

#[test]
fn lost_frames_are_shown() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let mut bytes = fixture::capture();
    // Damage one byte in the middle of the second frame (frames end in 0x00),
    // leaving the first, with the first run's start, intact.
    let ends: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i] == 0).collect();
    assert!(ends.len() >= 3, "the capture has several frames");
    let middle = (ends[0] + ends[1]) / 2;
    bytes[middle] ^= 0x55;
    let file = dir.path().join("damaged.frames");
    std::fs::write(&file, bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_runlog"))
        .arg("--tracking-uri")
        .arg(&store)
        .args(["drain", "--once", "--input"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs = json(&store, &["history", "list"]);
    let mut lost = 0;
    for r in runs["runs"].as_array().unwrap() {
        let id = r["run_id"].as_str().unwrap();
        let info = json(&store, &["history", "info", "-r", id]);
        let n = info["run"]["lost_frames"].as_u64().unwrap();
        let records = info["run"]["lost_records"].as_u64().unwrap();
        let table = ok(&store, &["history", "info", "-r", id]);
        assert_eq!(
            n + records > 0,
            table.contains(&format!(
                "{records} records and {n} damaged frames lost in transit"
            )),
            "{table}"
        );
        let tsv = tsv(&store, &["history", "info", "-r", id]);
        assert!(tsv.contains(&vec![
            "run".to_string(),
            "lost_frames".into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            n.to_string(),
            String::new(), // rank: not a metric's row
        ]));
        lost += n;
    }
    assert_eq!(lost, 1, "the damaged frame is counted once");
    // The runs whose frames were intact are all there.
    assert!(runs["runs"].as_array().unwrap().len() >= 2);
}
