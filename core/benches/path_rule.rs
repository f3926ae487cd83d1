//! What the artifact path rule costs on a host (the uploader checks every
//! artifact path it delivers, lists or serves): `rules::check_artifact_path`
//! (two passes, the first branch-free, which hosts use) beside
//! `rules::artifact_path_ok` (one pass, segments checked as they end, the
//! smaller code a device build links), on a short path, a 250-byte nested
//! one and one refused at its last segment. Why hosts keep the two passes.
//!
//! `cargo bench -p runlog-core --bench path_rule -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use runlog_core::rules::{artifact_path_ok, check_artifact_path};

fn path_rule(c: &mut Criterion) {
    let nested = "outputs/run-17/checkpoints/".repeat(9) + "model.safetensors";
    let nested = &nested[nested.len() - 250..];
    let paths = [
        ("short", "model/weights.bin".to_string()),
        ("nested_250", nested.to_string()),
        ("bad_last_segment", format!("{}/..", &nested[..200])),
    ];
    for (name, path) in &paths {
        assert_eq!(
            check_artifact_path(path).is_ok(),
            artifact_path_ok(path),
            "{name}"
        );
        let mut g = c.benchmark_group(format!("path_rule/{name}"));
        g.bench_function("check_artifact_path", |b| {
            b.iter(|| check_artifact_path(black_box(path)))
        });
        g.bench_function("artifact_path_ok", |b| {
            b.iter(|| artifact_path_ok(black_box(path)))
        });
        g.finish();
    }
}

criterion_group!(benches, path_rule);
criterion_main!(benches);
