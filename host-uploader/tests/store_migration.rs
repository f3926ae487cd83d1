//! A store written by runlog 60ea9eb (one row per point, schema version 1)
//! opens with today's code, is upgraded to chunks, and reads back every value
//! exactly as `tests/fixtures/store-60ea9eb/prog.c` logged it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use runlog_uploader::history::{HistorySource, MetricValue as Hv};
use runlog_uploader::sink::{Batch, Item, MetricItem, MetricValue, RunRef, Sink};
use runlog_uploader::store::{Store, MIGRATIONS};

const RUN: &str = "b411bcb3f8d11013b0905c295549f91a";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-60ea9eb")
}

/// A private copy of the fixture store (tests must not upgrade the original).
fn copy_of_fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture().join("history.sqlite"),
        dir.path().join("history.sqlite"),
    )
    .unwrap();
    let art = dir.path().join("artifacts").join(RUN).join("notes");
    std::fs::create_dir_all(&art).unwrap();
    std::fs::copy(
        fixture().join("artifacts").join(RUN).join("notes/a.txt"),
        art.join("a.txt"),
    )
    .unwrap();
    dir
}

fn schema_version(dir: &Path) -> i64 {
    let c = rusqlite::Connection::open(dir.join("history.sqlite")).unwrap();
    c.pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

fn history(store: &Store, name: &str) -> Vec<(i64, Hv)> {
    store
        .metric_history(RUN, name)
        .unwrap()
        .into_iter()
        .map(|p| (p.step, p.value))
        .collect()
}

fn float_bits(v: &Hv) -> u64 {
    match v {
        Hv::Float(f) => f.to_bits(),
        other => panic!("not a float: {other:?}"),
    }
}

#[test]
fn a_60ea9eb_store_is_upgraded_and_reads_back_exactly() {
    let dir = copy_of_fixture();
    assert_eq!(
        schema_version(dir.path()),
        1,
        "the fixture is a version-1 store"
    );
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(schema_version(dir.path()), MIGRATIONS.len() as i64);
    let tables: i64 = store
        .conn()
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'metric_values'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0, "the one-row-per-point table is gone");

    let loss = history(&store, "loss");
    assert_eq!(loss.len(), 3000);
    for (i, (step, v)) in loss.iter().enumerate() {
        assert_eq!(*step, i as i64);
        assert_eq!(
            float_bits(v),
            (1.0 / (i as f64 + 1.0)).to_bits(),
            "loss[{i}]"
        );
    }
    let tokens = history(&store, "tokens");
    assert_eq!(tokens.len(), 50);
    for (i, (_, v)) in tokens.iter().enumerate() {
        assert_eq!(*v, Hv::Int(i64::MAX - i as i64), "integers stay integers");
    }
    let odd: Vec<u64> = history(&store, "odd")
        .iter()
        .map(|(_, v)| float_bits(v))
        .collect();
    assert!(f64::from_bits(odd[0]).is_nan());
    assert_eq!(
        &odd[1..],
        &[
            f64::INFINITY.to_bits(),
            f64::NEG_INFINITY.to_bits(),
            (-0.0f64).to_bits()
        ]
    );
    assert_eq!(
        history(&store, "mixed"),
        vec![(0, Hv::Int(7)), (1, Hv::Float(7.5))]
    );
    assert_eq!(
        history(&store, "phase"),
        vec![
            (0, Hv::Text("warmup".into())),
            (1, Hv::Text("train".into()))
        ]
    );
    let hist = history(&store, "hist");
    let Hv::FloatList(h) = &hist[0].1 else {
        panic!("{hist:?}")
    };
    assert_eq!((h[0], h[2]), (1.5, -2.0));
    assert!(h[1].is_nan());
    assert_eq!(
        history(&store, "ilist"),
        vec![(0, Hv::IntList(vec![i64::MIN, 42]))]
    );
}

#[test]
fn history_info_of_the_upgraded_store_prints_what_60ea9eb_printed() {
    let dir = copy_of_fixture();
    let out = Command::new(env!("CARGO_BIN_EXE_runlog"))
        .args(["--tracking-uri", dir.path().to_str().unwrap()])
        .args(["history", "info", "-r", RUN, "-o", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let now: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let then: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture().join("info-by-60ea9eb.json")).unwrap())
            .unwrap();
    assert_eq!(now, then);
}

#[test]
fn an_upgraded_store_keeps_appending_to_its_series() {
    let dir = copy_of_fixture();
    let mut store = Store::open(dir.path()).unwrap();
    let mut b = Batch::new(RunRef {
        run_id: RUN.into(),
        experiment: "fixture-exp".into(),
    });
    for i in 0..2000u64 {
        b.items.push(Item::Metric(MetricItem {
            name: Arc::from("loss"),
            value: MetricValue::F64(-(i as f64)),
            step: None,
            time_ms: Some(7),
        }));
    }
    store.commit(&b).unwrap();
    drop(store);
    // Opening again migrates nothing and finds both the old and new points.
    let store = Store::open(dir.path()).unwrap();
    let loss = history(&store, "loss");
    assert_eq!(loss.len(), 5000);
    assert_eq!(loss[2999], (2999, Hv::Float(1.0 / 3000.0)));
    assert_eq!(loss[3000], (3000, Hv::Float(-0.0)));
    assert_eq!(loss[4999], (4999, Hv::Float(-1999.0)));
    let m = store.metrics(RUN).unwrap();
    let summary = m.iter().find(|m| m.name == "loss").unwrap();
    assert_eq!((summary.count, summary.last_step), (5000, Some(4999)));
}

#[test]
fn a_store_newer_than_this_runlog_is_refused() {
    let dir = copy_of_fixture();
    drop(Store::open(dir.path()).unwrap());
    let c = rusqlite::Connection::open(dir.path().join("history.sqlite")).unwrap();
    c.pragma_update(None, "user_version", 99).unwrap();
    drop(c);
    let err = Store::open(dir.path()).err().unwrap();
    assert!(format!("{err:#}").contains("upgrade runlog"), "{err:#}");
}

#[test]
fn processes_opening_an_old_store_at_once_migrate_it_once() {
    let dir = copy_of_fixture();
    let path = dir.path().to_path_buf();
    let openers: Vec<_> = (0..4)
        .map(|_| {
            let p = path.clone();
            std::thread::spawn(move || Store::open(&p).map(drop).map_err(|e| format!("{e:#}")))
        })
        .collect();
    for o in openers {
        o.join().unwrap().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(history(&store, "loss").len(), 3000);
}
