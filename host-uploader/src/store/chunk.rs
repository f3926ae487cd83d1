//! The encoding of a chunk: up to [`CHUNK_POINTS`] consecutive points of one
//! series in one BLOB, plus the summary (count, min, max, last) that listings
//! and downsampled charts read instead of the points.
//!
//! ```text
//! chunk = format:u8 (1) codec:u8 (0 plain, 1 deflate) body (deflated when codec = 1)
//! body  = n:varint kinds steps times ords scalars others
//! kinds = k:u8 (every point has kind k) | 0xFF then n kind bytes
//! steps, times, ords = n zigzag varints each: first value, first delta, then delta-of-delta
//! scalars = per I64/F64 point, its 64 bits XOR the previous scalar's:
//!           0x88 when equal, else (lead_zero_bytes << 4 | trail_zero_bytes) then the middle bytes
//! others  = per string or list point: varint length, then the bytes
//!           (UTF-8, or 8-byte little-endian elements)
//! ```
//!
//! Why (measured on the drain benchmark's series, see docs/uploader.md): steps
//! and times of a training loop advance by a constant, so delta-of-delta makes
//! them one zero byte each; consecutive values of a metric share sign,
//! exponent and high mantissa bits, so their XOR is a few middle bytes (the
//! byte-aligned form of Gorilla's XOR floats). Deflate then squeezes the
//! remaining redundancy (the repeated zero bytes and headers). A chunk still
//! filling up is written plain: it is rewritten on every append, and plain
//! costs no compression each time; it is deflated once, when full.
//! Integers and floats are kept as their 64 bits: exact, NaN payloads and
//! the sign of zero included.

use std::io::{Read, Write};

use anyhow::{anyhow, bail, ensure, Result};
use flate2::Compression;

use super::value::MetricValue;
use super::value::ValueKind;

/// Points per full chunk.
pub const CHUNK_POINTS: usize = 1024;

/// The chunk format this code writes and reads.
const FORMAT: u8 = 1;
const CODEC_PLAIN: u8 = 0;
const CODEC_DEFLATE: u8 = 1;
const MIXED_KINDS: u8 = 0xFF;
const XOR_ZERO: u8 = 0x88;
/// The largest body a chunk may inflate to: a bound for hostile BLOBs.
const MAX_BODY: u64 = 256 << 20;

/// One point of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Its step (explicit, or its index in the series).
    pub step: i64,
    /// When it was logged, ms since the Unix epoch.
    pub time_ms: i64,
    /// Its position in the run's logging order (all series together).
    pub ord: i64,
    /// The value.
    pub value: MetricValue,
}

/// What a chunk says about its points without decoding them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// How many points.
    pub count: usize,
    /// Step of the first and the last point.
    pub first_step: i64,
    /// Step of the last point.
    pub last_step: i64,
    /// Smallest numeric value (as f64, NaN left out) and its step, if any.
    pub min: Option<(f64, i64)>,
    /// Largest numeric value and its step, if any.
    pub max: Option<(f64, i64)>,
}

/// The number a point draws as, if it is a number that can be drawn (finite).
pub fn drawable(v: &MetricValue) -> Option<f64> {
    let y = match v {
        MetricValue::I64(i) => *i as f64,
        MetricValue::F64(f) => *f,
        _ => return None,
    };
    y.is_finite().then_some(y)
}

/// The summary of `points` (not empty).
pub fn summarize(points: &[Point]) -> Summary {
    let mut min: Option<(f64, i64)> = None;
    let mut max: Option<(f64, i64)> = None;
    for p in points {
        if let Some(y) = drawable(&p.value) {
            if min.is_none_or(|(m, _)| y < m) {
                min = Some((y, p.step));
            }
            if max.is_none_or(|(m, _)| y > m) {
                max = Some((y, p.step));
            }
        }
    }
    Summary {
        count: points.len(),
        first_step: points.first().map_or(0, |p| p.step),
        last_step: points.last().map_or(0, |p| p.step),
        min,
        max,
    }
}

/// Encodes `points`; deflated when `compress`.
pub fn encode(points: &[Point], compress: bool) -> Vec<u8> {
    let mut body = Vec::with_capacity(points.len() * 6 + 16);
    put_varint(&mut body, points.len() as u64);
    let first_kind = points.first().map(|p| ValueKind::of(&p.value));
    if points
        .iter()
        .all(|p| Some(ValueKind::of(&p.value)) == first_kind)
    {
        body.push(first_kind.map_or(0, ValueKind::code));
    } else {
        body.push(MIXED_KINDS);
        body.extend(points.iter().map(|p| ValueKind::of(&p.value).code()));
    }
    for column in [|p: &Point| p.step, |p: &Point| p.time_ms, |p: &Point| p.ord] {
        let (mut prev, mut prev_delta) = (0i64, 0i64);
        for (i, p) in points.iter().enumerate() {
            let v = column(p);
            let delta = v.wrapping_sub(prev);
            let out = if i == 0 {
                v
            } else {
                delta.wrapping_sub(prev_delta)
            };
            put_varint(&mut body, zigzag(out));
            if i > 0 {
                prev_delta = delta;
            }
            prev = v;
        }
    }
    let mut prev = 0u64;
    for p in points {
        let bits = match &p.value {
            MetricValue::I64(i) => *i as u64,
            MetricValue::F64(f) => f.to_bits(),
            _ => continue,
        };
        put_xor(&mut body, bits ^ prev);
        prev = bits;
    }
    for p in points {
        match &p.value {
            MetricValue::Str(s) => put_bytes(&mut body, s.as_bytes()),
            MetricValue::F64List(l) => {
                put_varint(&mut body, (l.len() * 8) as u64);
                body.extend(l.iter().flat_map(|x| x.to_le_bytes()));
            }
            MetricValue::I64List(l) => {
                put_varint(&mut body, (l.len() * 8) as u64);
                body.extend(l.iter().flat_map(|x| x.to_le_bytes()));
            }
            MetricValue::I64(_) | MetricValue::F64(_) => {}
        }
    }
    let mut out = vec![FORMAT, if compress { CODEC_DEFLATE } else { CODEC_PLAIN }];
    if compress {
        let mut z = flate2::write::DeflateEncoder::new(out, Compression::fast());
        // Writing into a Vec cannot fail.
        let _ = z.write_all(&body);
        z.finish().unwrap_or_default()
    } else {
        out.extend_from_slice(&body);
        out
    }
}

/// Decodes a chunk. Every length and count is checked against the bytes
/// present: a damaged or hostile BLOB is an error, never a panic or an
/// unbounded allocation.
pub fn decode(chunk: &[u8]) -> Result<Vec<Point>> {
    let [format, codec, rest @ ..] = chunk else {
        bail!("chunk of {} bytes is too short", chunk.len());
    };
    ensure!(
        *format == FORMAT,
        "chunk format {format} is not the one this runlog reads ({FORMAT}); upgrade runlog"
    );
    let inflated;
    let body: &[u8] = match *codec {
        CODEC_PLAIN => rest,
        CODEC_DEFLATE => {
            let mut buf = Vec::new();
            flate2::read::DeflateDecoder::new(rest)
                .take(MAX_BODY)
                .read_to_end(&mut buf)
                .map_err(|e| anyhow!("chunk does not inflate: {e}"))?;
            inflated = buf;
            &inflated
        }
        other => bail!("chunk codec {other} is unknown"),
    };
    decode_body(body)
}

fn decode_body(body: &[u8]) -> Result<Vec<Point>> {
    let mut r = Reader { buf: body, pos: 0 };
    let n = usize::try_from(r.varint()?)?;
    // Every point takes at least three bytes (its step, time and ord).
    ensure!(
        n <= body.len() / 3,
        "chunk claims {n} points in {} bytes",
        body.len()
    );
    let kind_byte = r.byte()?;
    let kinds: Vec<ValueKind> = if kind_byte == MIXED_KINDS {
        (0..n)
            .map(|_| r.byte().and_then(kind))
            .collect::<Result<_>>()?
    } else {
        vec![kind(kind_byte)?; n]
    };
    let mut columns = [vec![0i64; n], vec![0i64; n], vec![0i64; n]];
    for col in &mut columns {
        let (mut prev, mut prev_delta) = (0i64, 0i64);
        for (i, slot) in col.iter_mut().enumerate() {
            let raw = unzigzag(r.varint()?);
            let v = if i == 0 {
                raw
            } else {
                let delta = prev_delta.wrapping_add(raw);
                prev_delta = delta;
                prev.wrapping_add(delta)
            };
            *slot = v;
            prev = v;
        }
    }
    let [steps, times, ords] = columns;
    let mut values = Vec::with_capacity(n);
    let mut prev = 0u64;
    for k in &kinds {
        values.push(match k {
            ValueKind::I64 | ValueKind::F64 => {
                prev ^= r.xor()?;
                if *k == ValueKind::I64 {
                    MetricValue::I64(prev as i64)
                } else {
                    MetricValue::F64(f64::from_bits(prev))
                }
            }
            // Filled in below, from the `others` section.
            _ => MetricValue::I64List(Vec::new()),
        });
    }
    for (k, v) in kinds.iter().zip(values.iter_mut()) {
        *v = match k {
            ValueKind::I64 | ValueKind::F64 => continue,
            ValueKind::Str => MetricValue::Str(
                String::from_utf8(r.bytes()?.to_vec())
                    .map_err(|_| anyhow!("chunk holds a string that is not UTF-8"))?,
            ),
            ValueKind::F64List => {
                MetricValue::F64List(list(r.bytes()?)?.map(f64::from_le_bytes).collect())
            }
            ValueKind::I64List => {
                MetricValue::I64List(list(r.bytes()?)?.map(i64::from_le_bytes).collect())
            }
        };
    }
    ensure!(
        r.pos == body.len(),
        "chunk has {} bytes after its points",
        body.len() - r.pos
    );
    Ok(steps
        .into_iter()
        .zip(times)
        .zip(ords)
        .zip(values)
        .map(|(((step, time_ms), ord), value)| Point {
            step,
            time_ms,
            ord,
            value,
        })
        .collect())
}

fn kind(b: u8) -> Result<ValueKind> {
    ValueKind::from_code(i64::from(b)).ok_or_else(|| anyhow!("chunk holds unknown value kind {b}"))
}

fn list(b: &[u8]) -> Result<impl Iterator<Item = [u8; 8]> + '_> {
    super::value::words(b).ok_or_else(|| {
        anyhow!(
            "chunk holds a list of {} bytes, not a multiple of 8",
            b.len()
        )
    })
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_xor(out: &mut Vec<u8>, x: u64) {
    if x == 0 {
        out.push(XOR_ZERO);
        return;
    }
    let lead = (x.leading_zeros() / 8) as usize;
    let trail = (x.trailing_zeros() / 8) as usize;
    out.push(((lead << 4) | trail) as u8);
    out.extend_from_slice(&x.to_be_bytes()[lead..8 - trail]);
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| anyhow!("chunk ends early"))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| anyhow!("chunk ends early"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7F) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        bail!("chunk holds a varint longer than 64 bits")
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = usize::try_from(self.varint()?)?;
        self.take(n)
    }

    fn xor(&mut self) -> Result<u64> {
        let head = self.byte()?;
        if head == XOR_ZERO {
            return Ok(0);
        }
        let (lead, trail) = (usize::from(head >> 4), usize::from(head & 0x0F));
        ensure!(
            lead + trail < 8,
            "chunk holds a bad value header {head:#04x}"
        );
        let mid = self.take(8 - lead - trail)?;
        let mut be = [0u8; 8];
        be[lead..8 - trail].copy_from_slice(mid);
        Ok(u64::from_be_bytes(be))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(step: i64, value: MetricValue) -> Point {
        Point {
            step,
            time_ms: 1_700_000_000_000 + step / 3,
            ord: step * 5 + 1,
            value,
        }
    }

    fn same(a: &[Point], b: &[Point]) -> bool {
        let bits = |v: &MetricValue| match v {
            MetricValue::F64(f) => MetricValue::I64(f.to_bits() as i64),
            MetricValue::F64List(l) => {
                MetricValue::I64List(l.iter().map(|f| f.to_bits() as i64).collect())
            }
            other => other.clone(),
        };
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| {
                (x.step, x.time_ms, x.ord) == (y.step, y.time_ms, y.ord)
                    && bits(&x.value) == bits(&y.value)
            })
    }

    #[test]
    fn every_kind_and_extreme_round_trips_bit_for_bit() {
        let nan_payload = f64::from_bits(0x7FF0_0000_0000_0BAD);
        let values = vec![
            MetricValue::F64(0.5),
            MetricValue::F64(f64::NAN),
            MetricValue::F64(nan_payload),
            MetricValue::F64(-0.0),
            MetricValue::F64(f64::INFINITY),
            MetricValue::F64(f64::NEG_INFINITY),
            MetricValue::I64(i64::MIN),
            MetricValue::I64(i64::MAX),
            MetricValue::I64(9_007_199_254_740_993),
            MetricValue::Str("héllo".into()),
            MetricValue::Str(String::new()),
            MetricValue::F64List(vec![1.5, f64::NAN, -2.0]),
            MetricValue::I64List(vec![i64::MIN, 42]),
            MetricValue::F64List(Vec::new()),
        ];
        let mut points: Vec<Point> = values
            .into_iter()
            .enumerate()
            .map(|(i, v)| p(i as i64, v))
            .collect();
        points.push(Point {
            step: i64::MIN,
            time_ms: i64::MAX,
            ord: -1,
            value: MetricValue::I64(0),
        });
        points.push(Point {
            step: i64::MAX,
            time_ms: i64::MIN,
            ord: i64::MAX,
            value: MetricValue::F64(1.0),
        });
        for compress in [false, true] {
            let back = decode(&encode(&points, compress)).unwrap();
            assert!(same(&points, &back), "compress={compress}: {back:?}");
        }
    }

    #[test]
    fn a_training_series_takes_a_few_bytes_per_point() {
        let points: Vec<Point> = (0..CHUNK_POINTS as i64)
            .map(|i| p(i, MetricValue::F64((i * 8) as f64 * 0.5)))
            .collect();
        let plain = encode(&points, false).len() as f64 / points.len() as f64;
        let deflated = encode(&points, true).len() as f64 / points.len() as f64;
        assert!(deflated < plain && deflated < 4.0, "{plain} {deflated}");
        assert!(same(&points, &decode(&encode(&points, true)).unwrap()));
        let s = summarize(&points);
        assert_eq!(
            (s.count, s.min, s.max),
            (CHUNK_POINTS, Some((0.0, 0)), Some((4092.0 * 1.0, 1023)))
        );
    }

    #[test]
    fn damaged_chunks_are_errors_not_panics() {
        let points: Vec<Point> = (0..50)
            .map(|i| {
                p(
                    i,
                    if i % 7 == 0 {
                        MetricValue::Str(format!("s{i}"))
                    } else {
                        MetricValue::F64(i as f64 / 3.0)
                    },
                )
            })
            .collect();
        let mut cases = 0;
        for compress in [false, true] {
            let good = encode(&points, compress);
            // Every truncation, and every single-byte change at every position.
            for len in 0..good.len() {
                assert!(decode(&good[..len]).is_err(), "truncated to {len}");
                cases += 1;
            }
            for i in 0..good.len() {
                for b in [0u8, 1, 0x7F, 0x80, 0x88, 0xFF] {
                    let mut bad = good.clone();
                    bad[i] = b;
                    let _ = decode(&bad);
                    cases += 1;
                }
            }
        }
        eprintln!("{cases} damaged chunks decoded without a panic");
        // A count far beyond the bytes present is refused before allocating.
        let mut huge = vec![FORMAT, CODEC_PLAIN];
        put_varint(&mut huge, u64::MAX >> 1);
        assert!(decode(&huge).is_err());
        assert!(decode(&[FORMAT, 9]).is_err());
        assert!(decode(&[2, 0, 0])
            .unwrap_err()
            .to_string()
            .contains("upgrade runlog"));
    }
}
