//! Bytes per point of the chunk encodings considered for the store
//! (docs/uploader.md), on the drain benchmark's series (`i * 0.5` for every
//! 8th i: one of 8 names logged in turn, times advancing 1 ms per 1000
//! metrics) and on a noisy series (`sin`, as in the read benchmark), with
//! encode and decode time per point (median of 5 over 1000 chunks).
//!
//! `cargo bench -p runlog-uploader --bench chunk_encoding`

use std::io::Write;
use std::time::Instant;

use runlog_uploader::sink::MetricValue;
use runlog_uploader::store::chunk::{decode, encode, Point, CHUNK_POINTS};

/// The alternative without the delta and XOR transforms: 8-byte columns, deflated.
fn columnar_deflate(points: &[Point]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(points.len() * 32);
    for col in [|p: &Point| p.step, |p: &Point| p.time_ms, |p: &Point| p.ord] {
        raw.extend(points.iter().flat_map(|p| col(p).to_le_bytes()));
    }
    raw.extend(points.iter().flat_map(|p| match p.value {
        MetricValue::F64(f) => f.to_bits().to_le_bytes(),
        _ => [0; 8],
    }));
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(&raw).unwrap();
    z.finish().unwrap()
}

fn series(name: &str, chunk: usize) -> Vec<Point> {
    let t0 = 1_795_000_000_000i64;
    (0..CHUNK_POINTS)
        .map(|k| {
            let k = (chunk * CHUNK_POINTS + k) as i64;
            let i = k * 8 + 3; // every 8th metric of the drain benchmark
            let value = if name == "drain" {
                i as f64 * 0.5
            } else {
                (k as f64 * 1e-3).sin()
            };
            Point {
                step: k,
                time_ms: t0 + i / 1000,
                ord: i,
                value: MetricValue::F64(value),
            }
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let chunks = 1000;
    for name in ["drain", "sin"] {
        let data: Vec<Vec<Point>> = (0..chunks).map(|c| series(name, c)).collect();
        let n = (chunks * CHUNK_POINTS) as f64;
        type Enc = fn(&[Point]) -> Vec<u8>;
        let encoders: [(&str, Enc); 3] = [
            ("delta-of-delta + XOR bytes (plain)", |p| encode(p, false)),
            ("delta-of-delta + XOR bytes + deflate (chosen)", |p| {
                encode(p, true)
            }),
            ("8-byte columns + deflate", columnar_deflate),
        ];
        for (label, enc) in encoders {
            let mut bytes = 0usize;
            let mut enc_t = Vec::new();
            let mut dec_t = Vec::new();
            for rep in 0..5 {
                let start = Instant::now();
                let blobs: Vec<Vec<u8>> = data.iter().map(|c| enc(c)).collect();
                enc_t.push(start.elapsed().as_secs_f64() * 1e9 / n);
                if rep == 0 {
                    bytes = blobs.iter().map(Vec::len).sum();
                }
                if label.starts_with("delta") {
                    let start = Instant::now();
                    for b in &blobs {
                        std::hint::black_box(decode(b).unwrap());
                    }
                    dec_t.push(start.elapsed().as_secs_f64() * 1e9 / n);
                }
            }
            let dec = if dec_t.is_empty() {
                "-".to_string()
            } else {
                format!("{:.1}", median(dec_t))
            };
            println!(
                "{name:5} {label:46} {:6.2} bytes/point  encode {:5.1} ns/point  decode {dec} ns/point",
                bytes as f64 / n,
                median(enc_t)
            );
        }
    }
}
