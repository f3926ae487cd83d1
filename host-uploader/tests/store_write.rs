//! The store's write API: batches land whole, with types, order and watermarks.

use std::sync::Arc;

use runlog_core::RunStatus;
use runlog_uploader::sink::{
    ArtifactContent, ArtifactItem, Batch, Item, MetricItem, MetricValue, RunRef, Sink, StreamPos,
};
use runlog_uploader::store::Store;

fn metric(name: &str, value: MetricValue) -> Item {
    Item::Metric(MetricItem {
        name: Arc::from(name),
        value,
        step: None,
        time_ms: Some(1000),
    })
}

#[test]
fn batch_commits_metrics_artifacts_and_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let run = RunRef {
        run_id: "r1".into(),
        experiment: "exp".into(),
    };
    assert_eq!(store.watermark("s").unwrap(), None);
    let mut batch = Batch::new(run.clone());
    batch.stream = Some(StreamPos {
        key: "s".into(),
        next_seq: 7,
    });
    batch.items = vec![
        Item::RunStart {
            time_ms: Some(5),
            command: None,
        },
        metric("loss", MetricValue::F64(0.5)),
        metric("n", MetricValue::I64(3)),
        metric("loss", MetricValue::F64(f64::NAN)),
        metric("note", MetricValue::Str("hello".into())),
        metric("curve", MetricValue::F64List(vec![1.0, 2.0])),
        Item::Artifact(ArtifactItem {
            path: "a/b.txt".into(),
            content: ArtifactContent::Bytes(b"abc".to_vec()),
        }),
        Item::Dropped(2),
        Item::RunEnd {
            status: RunStatus::Finished,
            time_ms: Some(9),
            exit_code: None,
        },
    ];
    Sink::commit(&mut store, &batch).unwrap();
    assert_eq!(store.watermark("s").unwrap(), Some(7));
    assert_eq!(store.run_status("r1").unwrap().as_deref(), Some("FINISHED"));

    // A second batch continues the series and the run's order.
    let mut b2 = Batch::new(run);
    b2.items = vec![metric("loss", MetricValue::F64(0.25))];
    store.commit(&b2).unwrap();

    let conn = store.conn();
    runlog_uploader::store::series::create_points_table(conn).unwrap();
    let rows: Vec<(String, i64, i64, i64, i64)> = conn
        .prepare(
            "SELECT s.name, v.idx, v.ord, v.step, v.kind FROM metric_values v
             JOIN series s ON s.id = v.series ORDER BY v.ord",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        vec![
            ("loss".into(), 0, 0, 0, 1),
            ("n".into(), 0, 1, 0, 0),
            ("loss".into(), 1, 2, 1, 1),
            ("note".into(), 0, 3, 0, 2),
            ("curve".into(), 0, 4, 0, 3),
            ("loss".into(), 2, 5, 2, 1),
        ]
    );
    let (count, last): (i64, f64) = conn
        .query_row(
            "SELECT count, last_value FROM series WHERE name = 'loss'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((count, last), (3, 0.25));
    let n: i64 = conn
        .query_row(
            "SELECT value FROM metric_values v JOIN series s ON s.id = v.series WHERE s.name = 'n'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 3);
    let (size, sha): (i64, String) = conn
        .query_row(
            "SELECT size, sha256 FROM artifacts WHERE path = 'a/b.txt'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(size, 3);
    assert_eq!(
        sha,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let content = std::fs::read(dir.path().join("artifacts/r1/a/b.txt")).unwrap();
    assert_eq!(content, b"abc");
    let dropped: i64 = conn
        .query_row("SELECT dropped FROM runs WHERE run_id = 'r1'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(dropped, 2);
}

#[test]
fn invalid_artifact_path_is_skipped_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let mut batch = Batch::new(RunRef {
        run_id: "r2".into(),
        experiment: "e".into(),
    });
    batch.items = vec![
        Item::Artifact(ArtifactItem {
            path: "../escape".into(),
            content: ArtifactContent::Bytes(b"x".to_vec()),
        }),
        metric("m", MetricValue::I64(1)),
    ];
    store.commit(&batch).unwrap();
    assert!(!dir.path().join("artifacts/escape").exists());
    let n: i64 = store
        .conn()
        .query_row("SELECT COUNT(*) FROM artifacts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}
