//! Two real processes sharing one ring in a memory-mapped spool file.
//!
//! This test binary is its own producer: the parent re-executes it with
//! `RUNLOG_MMAP_CHILD` set, and `main` then runs the child's part instead of
//! the tests (hence `harness = false`). The parent is the consumer, as the
//! uploader is in production.

use std::fs::OpenOptions;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use memmap2::MmapMut;
use runlog_core::ring::{storage_len, RingError};
use runlog_core::spool::{read_header, write_header, SpoolInfo, SPOOL_HEADER_LEN};
use runlog_core::wire::{encode, WireError};
use runlog_core::{Bytes, Consumer, Metric, Name, Producer, PushError, Record, Value};

const CHILD_ENV: &str = "RUNLOG_MMAP_CHILD";
/// A byte of the spool header's reserved tail that the slow child sets while
/// it is inside a record's encoding: the parent reads it after the kill.
const IN_RECORD_FLAG: usize = 500;
const RING_CAPACITY: u32 = 64 * 1024;

fn file_len() -> usize {
    SPOOL_HEADER_LEN + storage_len(RING_CAPACITY)
}

fn map(path: &Path) -> MmapMut {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    // SAFETY: the file is private to this test; the two processes only touch
    // the ring through its protocol and the flag byte through an atomic.
    unsafe { MmapMut::map_mut(&file) }.unwrap()
}

fn flag(map: &MmapMut) -> &AtomicU8 {
    // SAFETY: in bounds of a live mapping; u8 has no alignment requirement.
    unsafe { &*(map.as_ptr().add(IN_RECORD_FLAG) as *const AtomicU8) }
}

/// Logical record `i` of the streaming test.
fn metric(i: u64) -> Record<'static> {
    const NAMES: [&str; 3] = ["loss", "acc", "throughput/samples_per_s"];
    Record::Metric(Metric {
        name: Name::Text(NAMES[(i % 3) as usize]),
        value: if i % 2 == 0 {
            Value::F64(i as f64 * 0.5)
        } else {
            Value::I64(-(i as i64))
        },
        step: Some(i),
        time_ms: None,
    })
}

fn chunk_byte(i: u64, k: usize) -> u8 {
    (i as u8).wrapping_mul(31).wrapping_add(k as u8) | 1
}

// ---- child (producer) side ------------------------------------------------

fn child(spec: &str) {
    let (mode, rest) = spec.split_once(':').unwrap();
    let (count, path) = rest.split_once(':').unwrap();
    let count: u64 = count.parse().unwrap();
    let mut map = map(Path::new(path));
    let ring = &mut map[SPOOL_HEADER_LEN..];
    // SAFETY: the mapping lives until this process exits; this is the only producer.
    let mut producer = unsafe { Producer::format(ring.as_mut_ptr(), ring.len()) }.unwrap();
    // Never outlive a parent that died without killing us.
    let give_up = Instant::now() + Duration::from_secs(120);
    match mode {
        "stream" => {
            for i in 0..count {
                loop {
                    match producer.push(&metric(i)) {
                        Ok(_) => break,
                        Err(PushError::Full) => {
                            assert!(Instant::now() < give_up, "nobody drains");
                            std::thread::yield_now()
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            producer.close();
            // The parent acknowledges what it consumed: wait for it, as `runlog_wait` does.
            let deadline = Instant::now() + Duration::from_secs(60);
            while producer.acked() < producer.next_seq() {
                assert!(Instant::now() < deadline, "never acknowledged");
                std::thread::sleep(Duration::from_millis(1));
            }
            println!("child: {} records acked", producer.acked());
        }
        "slow" => {
            let flag = flag(&map);
            let mut data = [0u8; 2000];
            for i in 0.. {
                if Instant::now() > give_up {
                    std::process::exit(2);
                }
                for (k, b) in data.iter_mut().enumerate() {
                    *b = chunk_byte(i, k);
                }
                let record = Record::ArtifactChunk {
                    id: 9,
                    offset: i,
                    data: Bytes(&data),
                };
                let encode_slowly = |buf: &mut [u8]| {
                    let n = encode(&record, buf)?;
                    // From here until the push returns, the ring holds bytes
                    // of this record that are not published.
                    flag.store(1, Ordering::SeqCst);
                    // Write the record again a bit at a time, slowly, so
                    // that a kill is likely to land in the middle of it.
                    for b in buf[..n].iter_mut().rev() {
                        let v = *b;
                        *b = 0xEE;
                        std::hint::black_box(&mut *b);
                        *b = v;
                    }
                    let until = Instant::now() + Duration::from_micros(100);
                    while Instant::now() < until {
                        std::hint::spin_loop();
                    }
                    Ok::<usize, WireError>(n)
                };
                // Retry refusals (each one is reported by a Dropped notice).
                while producer.push_with(encode_slowly).is_err() {
                    flag.store(0, Ordering::SeqCst);
                    std::thread::yield_now();
                }
                flag.store(0, Ordering::SeqCst);
            }
        }
        _ => panic!("unknown child mode {mode}"),
    }
}

// ---- parent (consumer) side -----------------------------------------------

/// The producer process; killed if the test fails, so it never outlives it.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(mode: &str, count: u64, path: &Path) -> ChildGuard {
    ChildGuard(
        Command::new(std::env::current_exe().unwrap())
            .env(CHILD_ENV, format!("{mode}:{count}:{}", path.display()))
            .spawn()
            .unwrap(),
    )
}

fn new_spool(dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(file_len() as u64).unwrap();
    drop(file);
    let mut map = map(&path);
    write_header(
        &SpoolInfo {
            run_id: "run-1",
            experiment: "mmap",
            pid: std::process::id(),
            created_ms: 1,
        },
        &mut map,
    )
    .unwrap();
    map.flush().unwrap();
    path
}

/// Attaches to the ring once the child has formatted it.
fn attach(map: &mut MmapMut) -> Consumer<'static> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let ring = &mut map[SPOOL_HEADER_LEN..];
    loop {
        // SAFETY: the mapping outlives the consumer (both live until the test
        // returns, and the consumer is dropped first); the child is the only
        // producer and this is the only consumer.
        match unsafe { Consumer::attach(ring.as_mut_ptr(), ring.len()) } {
            Ok(c) => return c,
            Err(RingError::BadMagic) => {
                assert!(
                    Instant::now() < deadline,
                    "the child never formatted the ring"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("attach: {e}"),
        }
    }
}

fn two_processes_stream_a_million_records(dir: &Path) {
    const N: u64 = 1_000_000;
    let path = new_spool(dir, "stream.spool");
    let mut map = map(&path);
    let info = read_header(&map).unwrap();
    assert_eq!((info.run_id, info.experiment), ("run-1", "mmap"));
    let mut child = spawn("stream", N, &path);
    let mut consumer = attach(&mut map);
    let (mut next, mut seq, mut reported) = (0u64, 0u64, 0u64);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match consumer.read().unwrap() {
            Some(entry) => {
                assert_eq!(entry.seq, seq);
                seq += 1;
                match entry.record().expect("whole record") {
                    // The child retries refused pushes; each refusal is reported.
                    Record::Dropped { count } => reported += u64::from(count),
                    record => {
                        assert_eq!(record, metric(next), "record {next}");
                        next += 1;
                    }
                }
                if seq % 64 == 0 {
                    consumer.commit();
                }
            }
            None => {
                consumer.commit();
                if consumer.producer_closed() && !consumer.has_unread() {
                    break;
                }
                assert!(Instant::now() < deadline, "stalled at {next}");
                std::thread::yield_now();
            }
        }
    }
    assert_eq!(next, N, "every record crossed, in order");
    let status = child.0.wait().unwrap();
    assert!(status.success(), "child: {status}");
    assert_eq!(u64::from(consumer.dropped_total()), reported);
    eprintln!("  {N} records, {reported} refusals (retried) reported by notices");
}

fn killed_producer_never_exposes_a_partial_record(dir: &Path) {
    let mut mid_record = 0;
    const TRIALS: u32 = 6;
    for trial in 0..TRIALS {
        let path = new_spool(dir, &format!("kill{trial}.spool"));
        let mut map = map(&path);
        let mut child = spawn("slow", 0, &path);
        let mut consumer = attach(&mut map);
        // (next logical record, next sequence number)
        let mut next = (0u64, 0u64);
        let check = |entry: runlog_core::Entry<'_>, next: &mut (u64, u64)| {
            assert_eq!(entry.seq, next.1);
            next.1 += 1;
            match entry.record().expect("a whole record") {
                Record::ArtifactChunk {
                    id: 9,
                    offset,
                    data,
                } => {
                    let i = next.0;
                    assert_eq!(offset, i);
                    assert_eq!(data.0.len(), 2000);
                    for (k, &b) in data.0.iter().enumerate() {
                        assert_eq!(b, chunk_byte(i, k), "record {i} byte {k}");
                    }
                    next.0 += 1;
                }
                Record::Dropped { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        };
        // Consume a while, then kill the producer at an arbitrary moment.
        let goal = 50 + u64::from(trial) * 37;
        while next.0 < goal {
            if let Some(entry) = consumer.read().unwrap() {
                check(entry, &mut next);
                consumer.commit();
            }
        }
        std::thread::sleep(Duration::from_micros(u64::from(trial) * 700));
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        if flag(&map).load(Ordering::SeqCst) == 1 {
            mid_record += 1;
        }
        // Everything published is whole; nothing after it shows up.
        while let Some(entry) = consumer.read().unwrap() {
            check(entry, &mut next);
        }
        consumer.commit();
        assert!(consumer.read().unwrap().is_none());
        assert!(!consumer.producer_closed());
        eprintln!(
            "  trial {trial}: {} whole records, killed mid-record: {}",
            next.0,
            flag(&map).load(Ordering::SeqCst) == 1
        );
    }
    assert!(
        mid_record >= 1,
        "no kill landed inside a record in {TRIALS} trials; the test proved nothing"
    );
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
        return;
    }
    // `cargo test -- --list` and filters: this binary has two fixed tests.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("two_processes_stream_a_million_records: test");
        println!("killed_producer_never_exposes_a_partial_record: test");
        return;
    }
    let filter = args.iter().find(|a| !a.starts_with('-')).cloned();
    let dir = tempfile::tempdir().unwrap();
    type Test = (&'static str, fn(&Path));
    let tests: [Test; 2] = [
        (
            "two_processes_stream_a_million_records",
            two_processes_stream_a_million_records,
        ),
        (
            "killed_producer_never_exposes_a_partial_record",
            killed_producer_never_exposes_a_partial_record,
        ),
    ];
    for (name, test) in tests {
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        let t = Instant::now();
        test(dir.path());
        println!("test {name} ... ok ({:.1?})", t.elapsed());
    }
}
