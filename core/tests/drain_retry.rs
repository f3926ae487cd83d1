//! A drain whose transport fails part-way rewinds, and the next drain sends
//! the same records again under the same sequence numbers: on a split ring
//! the consumer leaves the released number unset until its first release
//! (a rewind before then reads it from the record again), and this pins
//! that every record still arrives once, numbered from 0, whether the
//! failure hits the first frame (nothing released yet) or a later one.

use runlog_core::frame::{drain, FrameDecoder};
use runlog_core::{Event, Metric, Name, Record, Ring, Value};

/// Takes `left` bytes, then fails every write.
struct FailAfter {
    left: usize,
    out: Vec<u8>,
}

impl embedded_io::ErrorType for FailAfter {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io::Write for FailAfter {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        if self.left == 0 {
            return Err(embedded_io::ErrorKind::Other);
        }
        let n = buf.len().min(self.left);
        self.out.extend_from_slice(&buf[..n]);
        self.left -= n;
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

#[test]
fn a_failed_write_resends_the_same_numbers() {
    const RECORDS: u64 = 40;
    let names = ["loss", "accuracy", "lr"];
    // Every failure point in the first few frames (64-byte scratch: several
    // frames per drain), and a few past them.
    for fail_at in (0..400).chain([1_000, 100_000]) {
        let mut storage = vec![0u8; 4096];
        let (mut p, mut c) = Ring::format(&mut storage).unwrap().split();
        for i in 0..RECORDS {
            let m = Metric {
                name: Name::Text(names[i as usize % names.len()]),
                value: Value::F64(i as f64),
                step: Some(i),
                time_ms: None,
            };
            p.try_push_record(&Record::Metric(m)).unwrap();
        }
        let mut scratch = [0u8; 64];
        let mut w = FailAfter {
            left: fail_at,
            out: Vec::new(),
        };
        let failed = drain(&mut c, &mut scratch, &mut w, usize::MAX).is_err();
        w.left = usize::MAX;
        drain(&mut c, &mut scratch, &mut w, usize::MAX).expect("drain after the failure");
        assert_eq!(failed, fail_at < 1_000, "fail at {fail_at}");

        let mut got = Vec::new();
        let mut lost = 0;
        FrameDecoder::new().feed(&w.out, |e| match e {
            Event::Record { seq, record } => {
                let Record::Metric(m) = record else {
                    panic!("{record:?}")
                };
                assert_eq!(m.step, Some(seq), "fail at {fail_at}: record {seq}");
                got.push(seq);
            }
            Event::FrameLost(_) => {}
            Event::RecordsLost(n) => lost += n,
        });
        // A frame whose bytes all went out before its delimiter failed
        // arrives whole (the next drain ends it) and then again: each
        // record arrives at least once, under its own number.
        got.sort_unstable();
        got.dedup();
        assert_eq!(got, (0..RECORDS).collect::<Vec<_>>(), "fail at {fail_at}");
        assert_eq!(lost, 0, "fail at {fail_at}");
    }
}
