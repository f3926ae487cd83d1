//! Byte-stream sources through the real `runlog` binary: a damaged capture
//! file, standard input, TCP, and a serial line (a pseudo-terminal).

mod spool_writer;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write as _;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use runlog_core::crc::crc32;
use runlog_core::{
    Bytes, Event, FrameDecoder, Metric, Name, Record, Ring, RunStart, RunStatus, Value,
};
use spool_writer::*;

/// Collects frames in memory.
struct VecWriter(Vec<u8>);
impl embedded_io::ErrorType for VecWriter {
    type Error = core::convert::Infallible;
}
impl embedded_io::Write for VecWriter {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// A device's stream: optional RunStart, `n` metrics (`a` and `b`, value i),
/// a chunked artifact, RunEnd; framed with frames of at most `frame` bytes.
fn device_stream(run_id: Option<&str>, n: i64, frame: usize) -> Vec<u8> {
    device_stream_with(run_id, n, frame, "fw/log.txt")
}

/// [`device_stream`] whose artifact is called `artifact_path`.
fn device_stream_with(run_id: Option<&str>, n: i64, frame: usize, artifact_path: &str) -> Vec<u8> {
    let mut storage = vec![0u8; 1 << 16];
    let (mut p, mut c) = Ring::format(&mut storage).unwrap().split();
    let mut out = VecWriter(Vec::new());
    let mut scratch = vec![0u8; frame];
    let mut push = |p: &mut runlog_core::Producer<'_>,
                    c: &mut runlog_core::Consumer<'_, true>,
                    r: &Record<'_>| {
        if p.push(r).is_err() {
            runlog_core::drain(c, &mut scratch, &mut out, usize::MAX).unwrap();
            p.push(r).unwrap();
        }
    };
    if let Some(run_id) = run_id {
        push(
            &mut p,
            &mut c,
            &Record::RunStart(RunStart {
                run_id,
                experiment: "device",
                time_ms: None,
            }),
        );
    }
    for i in 0..n {
        let name = if i % 2 == 0 { "a" } else { "b" };
        push(
            &mut p,
            &mut c,
            &Record::Metric(Metric {
                name: Name::Text(name),
                value: Value::I64(i),
                step: None,
                time_ms: None,
            }),
        );
    }
    let data = b"firmware artifact content";
    push(
        &mut p,
        &mut c,
        &Record::ArtifactBegin {
            id: 1,
            path: artifact_path,
            len: data.len() as u64,
        },
    );
    push(
        &mut p,
        &mut c,
        &Record::ArtifactChunk {
            id: 1,
            offset: 0,
            data: Bytes(data),
        },
    );
    push(
        &mut p,
        &mut c,
        &Record::ArtifactEnd {
            id: 1,
            crc32: crc32(data),
        },
    );
    push(
        &mut p,
        &mut c,
        &Record::RunEnd {
            status: RunStatus::Finished,
            time_ms: None,
        },
    );
    let mut scratch = vec![0u8; frame];
    runlog_core::drain(&mut c, &mut scratch, &mut out, usize::MAX).unwrap();
    out.0
}

/// Metric values (i64) in one encoded frame (delimiter included), and its record count.
fn frame_content(frame: &[u8]) -> (Vec<i64>, u64) {
    let mut values = Vec::new();
    let mut records = 0;
    FrameDecoder::new().feed(frame, |ev| {
        if let Event::Record { record, .. } = ev {
            records += 1;
            if let Record::Metric(Metric {
                value: Value::I64(v),
                ..
            }) = record
            {
                values.push(v);
            }
        }
    });
    (values, records)
}

fn stored_values(store: &Path) -> BTreeSet<i64> {
    query(store, "SELECT value FROM metric_values WHERE kind = 0")
        .into_iter()
        .map(|r| match r[0] {
            rusqlite::types::Value::Integer(v) => v,
            ref other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn damaged_stream_keeps_intact_frames_and_counts_loss() {
    let stream = device_stream(Some("device-run-1"), 5000, 200);
    let frames: Vec<&[u8]> = stream.split_inclusive(|&b| b == 0).collect();
    assert!(frames.len() > 100, "{} frames", frames.len());
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut damaged_stream = Vec::new();
    let mut expected = BTreeSet::new();
    let (mut lost_frames, mut lost_records) = (0u64, 0u64);
    for (i, f) in frames.iter().enumerate() {
        let (values, records) = frame_content(f);
        let body = f.len() - 1; // without the delimiter
        let last = i == frames.len() - 1;
        if i != 0 && !last && i % 7 == 3 {
            // Flip one bit, never creating or removing a delimiter.
            let mut g = f.to_vec();
            let at = (next() as usize) % body;
            let mut bit = 1u8 << (next() % 8);
            if g[at] ^ bit == 0 {
                bit = if bit == 1 { 2 } else { 1 };
            }
            g[at] ^= bit;
            damaged_stream.extend_from_slice(&g);
            lost_frames += 1;
            lost_records += records;
        } else if i != 0 && !last && i % 11 == 5 {
            // Drop one or more bytes.
            let mut g = f.to_vec();
            let at = (next() as usize) % body;
            let k = 1 + (next() as usize % 3).min(body - at - 1);
            g.drain(at..at + k);
            damaged_stream.extend_from_slice(&g);
            lost_frames += 1;
            lost_records += records;
        } else {
            damaged_stream.extend_from_slice(f);
            expected.extend(values);
        }
    }
    // Line noise before the stream and between two frames.
    let mut noisy = vec![0x55, 0x13, 0x99, 0x00];
    noisy.extend_from_slice(&damaged_stream);
    lost_frames += 1;

    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let capture = work.path().join("capture.bin");
    fs::write(&capture, &noisy).unwrap();
    let out = runlog()
        .args([
            "--tracking-uri",
            store.to_str().unwrap(),
            "drain",
            "--input",
            capture.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stored_values(&store), expected);
    assert!(expected.len() < 5000 && expected.len() > 3000);
    let row = query(
        &store,
        "SELECT run_id, status, lost_frames, lost_records FROM runs",
    );
    use rusqlite::types::Value as V;
    assert_eq!(
        row,
        vec![vec![
            V::Text("device-run-1".into()),
            V::Text("FINISHED".into()),
            V::Integer(lost_frames as i64),
            V::Integer(lost_records as i64)
        ]]
    );
    // Values of each series stay in order.
    let a: Vec<i64> = query(&store, "SELECT v.value FROM metric_values v JOIN series s ON s.id = v.series WHERE s.name = 'a' ORDER BY v.idx")
        .into_iter()
        .map(|r| match r[0] { V::Integer(v) => v, _ => unreachable!() })
        .collect();
    assert!(a.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        fs::read(store.join("artifacts/device-run-1/fw/log.txt")).unwrap(),
        b"firmware artifact content"
    );
}

/// A device on a UART names an artifact with a newline (and other paths the C
/// API refuses): the drain refuses it with the rule's message, stores no such
/// file, keeps every metric and counts the loss on the run. (On 60ea9eb the
/// drain's own path check let control characters through.)
#[test]
fn device_artifact_paths_follow_the_c_api_rule() {
    for (path, why) in [
        ("fw/evil\nname.txt", "control character"),
        ("fw/tab\there", "control character"),
        ("fw/del\x7f", "control character"),
        ("C:evil", "drive letter"),
    ] {
        let work = tempfile::tempdir().unwrap();
        let store = work.path().join("store");
        let capture = work.path().join("capture.bin");
        fs::write(
            &capture,
            device_stream_with(Some("uart-run"), 50, 200, path),
        )
        .unwrap();
        let out = runlog()
            .args([
                "--tracking-uri",
                store.to_str().unwrap(),
                "drain",
                "--input",
            ])
            .arg(&capture)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("artifact path {path:?} refused")) && stderr.contains(why),
            "{path:?}: {stderr}"
        );
        assert_eq!(stored_values(&store), (0..50).collect(), "{path:?}");
        assert_eq!(
            query_i64(&store, "SELECT COUNT(*) FROM artifacts"),
            0,
            "{path:?} was stored"
        );
        let files = std::process::Command::new("find")
            .arg(store.join("artifacts"))
            .arg("-type")
            .arg("f")
            .output()
            .unwrap();
        assert!(files.stdout.is_empty(), "{path:?}: {files:?}");
        assert!(
            query_i64(&store, "SELECT lost_records FROM runs") >= 1,
            "{path:?}: the refused artifact is not counted"
        );
    }
}

#[test]
fn random_garbage_never_panics() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let mut rng = 12345u64;
    let mut garbage = Vec::with_capacity(1 << 20);
    for _ in 0..(1 << 20) {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        garbage.push((rng >> 56) as u8);
    }
    // A valid stream in the middle of it.
    let mut data = garbage[..1 << 19].to_vec();
    data.push(0);
    data.extend(device_stream(Some("in-noise"), 100, 4096));
    data.extend_from_slice(&garbage[1 << 19..]);
    let capture = work.path().join("noise.bin");
    fs::write(&capture, &data).unwrap();
    let out = runlog()
        .args([
            "--tracking-uri",
            store.to_str().unwrap(),
            "drain",
            "--input",
            capture.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stored_values(&store), (0..100).collect());
    assert!(
        query_i64(
            &store,
            "SELECT lost_frames FROM runs WHERE run_id = 'in-noise'"
        ) >= 1
    );
}

#[test]
fn stdin_stream_without_run_start_gets_a_run_of_its_own() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let mut child = runlog()
        .args([
            "--tracking-uri",
            store.to_str().unwrap(),
            "drain",
            "--input",
            "-",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&device_stream(None, 50, 512))
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("records before any run start"), "{err}");
    assert_eq!(stored_values(&store), (0..50).collect());
    assert_eq!(query_i64(&store, "SELECT COUNT(*) FROM runs"), 1);
}

#[test]
fn tcp_connect_and_listen() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    // --tcp-connect: the device side listens.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let stream = device_stream(Some("tcp-run"), 300, 1024);
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        for chunk in stream.chunks(777) {
            s.write_all(chunk).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let out = runlog()
        .args([
            "--tracking-uri",
            store.to_str().unwrap(),
            "drain",
            "--tcp-connect",
            &addr,
            "--once",
        ])
        .output()
        .unwrap();
    server.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(query_i64(&store, "SELECT COUNT(*) FROM metric_values"), 300);

    // --tcp-listen: runlog listens, the device connects.
    let mut child = KillOnDrop(
        runlog()
            .args([
                "--tracking-uri",
                store.to_str().unwrap(),
                "drain",
                "--tcp-listen",
                "127.0.0.1:0",
                "--once",
            ])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stderr = std::io::BufReader::new(child.0.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    let addr = line.trim().rsplit(' ').next().unwrap().to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(&device_stream(Some("tcp-run-2"), 200, 1024))
        .unwrap();
    drop(s);
    let status = child.0.wait().unwrap();
    assert!(status.success());
    assert_eq!(query_i64(&store, "SELECT COUNT(*) FROM metric_values"), 500);
    assert_eq!(
        query_str(&store, "SELECT status FROM runs WHERE run_id = 'tcp-run-2'"),
        "FINISHED"
    );
}

#[test]
fn serial_line_through_a_pseudo_terminal() {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two descriptors; the name and settings are optional.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(r, 0);
    // SAFETY: descriptors just returned by openpty, owned here.
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    // SAFETY: as above.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    let dev = fs::read_link(format!("/proc/self/fd/{}", slave.as_raw_fd())).unwrap();
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let mut child = KillOnDrop(
        runlog()
            .args([
                "--tracking-uri",
                store.to_str().unwrap(),
                "drain",
                "--serial",
                dev.to_str().unwrap(),
                "--baud",
                "921600",
                "--once",
            ])
            .spawn()
            .unwrap(),
    );
    // Wait until runlog has put the line in raw mode, then send.
    let start = Instant::now();
    loop {
        // SAFETY: termios is plain data filled by tcgetattr.
        let mut tio: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: a valid descriptor and a termios to fill.
        assert_eq!(unsafe { libc::tcgetattr(slave.as_raw_fd(), &mut tio) }, 0);
        if tio.c_lflag & libc::ICANON == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "runlog never configured the line"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(slave);
    let mut m = fs::File::from(master);
    m.write_all(&device_stream(Some("uart-run"), 400, 256))
        .unwrap();
    // runlog stops after the line is idle (--once).
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "drain --once never ended"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(m);
    assert!(status.success());
    assert_eq!(stored_values(&store), (0..400).collect());
    assert_eq!(query_str(&store, "SELECT status FROM runs"), "FINISHED");
}
