//! Helpers for the firmware tests: building the examples, booting them in
//! QEMU, and decoding what their UART sent.

#![allow(dead_code)] // Each test binary uses its own subset.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use runlog_core::crc::crc32;
use runlog_core::{Event, FrameDecoder, Name, Record, Value};

/// How long a firmware may run before the test gives up on it.
pub const QEMU_TIMEOUT: Duration = Duration::from_secs(60);

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A fresh directory for one test's files, left in place afterwards for
/// inspection (captures, stores, build output) and emptied by the next run.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = repo_root().join("target").join("firmware-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir
}

/// Builds examples/firmware-rust (release, thumbv7em-none-eabihf) and returns its ELF.
pub fn build_rust_firmware(root: &Path) -> PathBuf {
    let project = root.join("examples").join("firmware-rust");
    let target_dir = project.join("target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // The firmware is its own workspace with its own .cargo/config.toml,
    // which cargo only reads when run from inside the project.
    let status = Command::new(cargo)
        .current_dir(&project)
        .args(["build", "--release", "--target-dir"])
        .arg(&target_dir)
        .status()
        .expect("run cargo for the firmware");
    assert!(status.success(), "building examples/firmware-rust failed");
    let elf = target_dir
        .join("thumbv7em-none-eabihf")
        .join("release")
        .join("runlog-firmware-rust");
    assert!(elf.is_file(), "no firmware at {}", elf.display());
    elf
}

/// Builds examples/firmware-c into `out` against `ffi_root`'s include/runlog.h
/// and the device build of its runlog-ffi staticlib; returns the ELF.
///
/// `ffi_root` is normally the repository root; `RUNLOG_FFI_ROOT` may point
/// at another checkout of the workspace.
pub fn build_c_firmware(root: &Path, out: &Path) -> PathBuf {
    build_c_firmware_with(root, out, &[])
}

/// Like [`build_c_firmware`], with more `make` arguments (e.g.
/// `CPPFLAGS=-DRUNLOG_BUFFER_LEN=512`).
pub fn build_c_firmware_with(root: &Path, out: &Path, make_args: &[&str]) -> PathBuf {
    let ffi_root = std::env::var_os("RUNLOG_FFI_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.to_path_buf());
    let header = ffi_root.join("include").join("runlog.h");
    assert!(
        header.is_file(),
        "{} is missing: the C firmware needs runlog-ffi's header",
        header.display()
    );
    // A target directory of its own: the outer `cargo test` holds the lock
    // on the workspace's.
    let target_dir = root.join("target").join("firmware-ffi");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&ffi_root)
        // `rustc --crate-type staticlib`: with the crate's other types (lib,
        // cdylib) beside it cargo does not apply LTO (about 11 KB more).
        .args([
            "rustc",
            "--release",
            "-p",
            "runlog-ffi",
            "--lib",
            "--crate-type",
            "staticlib",
            "--no-default-features",
        ])
        .args(["--target", "thumbv7em-none-eabihf"])
        // For size and for the Cortex-M4, as the Makefile builds it.
        .arg("--config")
        .arg(ffi_root.join("ffi").join("device.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .expect("run cargo for runlog-ffi");
    assert!(
        status.success(),
        "building the thumb staticlib of runlog-ffi failed"
    );
    let lib = target_dir
        .join("thumbv7em-none-eabihf")
        .join("release")
        .join("librunlog.a");
    let status = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(root.join("examples").join("firmware-c"))
        .arg(format!("OUT={}", out.display()))
        .arg(format!("RUNLOG_LIB={}", lib.display()))
        .arg(format!(
            "RUNLOG_INCLUDE={}",
            ffi_root.join("include").display()
        ))
        .args(make_args)
        .status()
        .expect("run make (is arm-none-eabi-gcc installed?)");
    assert!(status.success(), "building examples/firmware-c failed");
    out.join("firmware.elf")
}

/// A running QEMU whose stderr (QEMU's messages and the firmware's
/// semihosting console) is collected line by line.
pub struct Qemu {
    child: Child,
    lines: mpsc::Receiver<String>,
    reader: Option<std::thread::JoinHandle<()>>,
    console: String,
}

impl Qemu {
    /// Starts QEMU's mps2-an386 on `elf`, with UART0 on the chardev `serial`
    /// (`file:PATH`, `tcp:127.0.0.1:PORT,server=on,wait=on`, ...).
    pub fn spawn(elf: &Path, serial: &str) -> Self {
        let mut child = Command::new("qemu-system-arm")
            .args(["-M", "mps2-an386", "-display", "none", "-monitor", "none"])
            .args(["-semihosting-config", "enable=on,target=native"])
            .args(["-serial", serial, "-kernel"])
            .arg(elf)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start qemu-system-arm (is it installed?)");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            reader: Some(reader),
            console: String::new(),
        }
    }

    /// Waits until QEMU prints a line containing `text` (for example that it
    /// waits for a connection on its serial socket).
    pub fn wait_for_line(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(text);
                    self.console.push_str(&line);
                    self.console.push('\n');
                    if found {
                        return;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("QEMU never printed {text:?}; it said: {}", self.console);
                }
            }
        }
    }

    /// Whether QEMU has exited.
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for QEMU to exit, killing it after [`QEMU_TIMEOUT`]; asserts
    /// that the firmware exited successfully and returns everything QEMU
    /// printed on stderr (the firmware's console).
    pub fn wait(self) -> String {
        let (status, console) = self.wait_status();
        assert!(
            status.success(),
            "the firmware failed ({status}); console: {console}"
        );
        console
    }

    /// Waits for QEMU to exit, killing it after [`QEMU_TIMEOUT`]; returns
    /// its exit status and everything QEMU printed on stderr.
    pub fn wait_status(mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + QEMU_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("poll qemu") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the firmware did not finish within {QEMU_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        for line in self.lines.try_iter() {
            self.console.push_str(&line);
            self.console.push('\n');
        }
        (status, std::mem::take(&mut self.console))
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        // Never leave an emulator behind when a test fails half-way.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Boots `elf` with UART0 on `serial` and waits for it; returns its console output.
pub fn run_qemu(elf: &Path, serial: &str) -> String {
    Qemu::spawn(elf, serial).wait()
}

/// A loopback TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port")
        .port()
}

/// The `runlog` binary: `RUNLOG_BIN`, else the workspace's release or debug build.
pub fn runlog_bin(root: &Path) -> PathBuf {
    if let Some(bin) = std::env::var_os("RUNLOG_BIN") {
        return PathBuf::from(bin);
    }
    ["release", "debug"]
        .iter()
        .map(|profile| root.join("target").join(profile).join("runlog"))
        .find(|p| p.is_file())
        .expect(
            "no runlog binary: run `cargo build --release -p runlog-uploader` or set RUNLOG_BIN",
        )
}

/// Runs `runlog ARGS` in `dir` (whose `.runlog/` is the store) and returns
/// its standard output; asserts that it succeeded.
pub fn runlog(bin: &Path, dir: &Path, args: &[&str]) -> String {
    let out = Command::new(bin)
        .current_dir(dir)
        .env_remove("RUNLOG_TRACKING_URI")
        .args(args)
        .output()
        .expect("run runlog");
    assert!(
        out.status.success(),
        "runlog {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("runlog prints UTF-8")
}

/// Boots `elf` with its UART on a TCP socket, lets `runlog drain
/// --tcp-connect` store what it sends into `dir/.runlog`, and returns the
/// firmware's console output.
pub fn drain_over_tcp(bin: &Path, elf: &Path, dir: &Path) -> String {
    let port = free_port();
    let mut qemu = Qemu::spawn(elf, &format!("tcp:127.0.0.1:{port},server=on,wait=on"));
    // QEMU holds the CPU until a client connects, so no byte is missed.
    qemu.wait_for_line("waiting for connection");
    let mut drain = Command::new(bin)
        .current_dir(dir)
        .env_remove("RUNLOG_TRACKING_URI")
        .args([
            "drain",
            "--once",
            "--tcp-connect",
            &format!("127.0.0.1:{port}"),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start runlog drain");
    // A drain that gives up early would leave QEMU waiting: watch both.
    let deadline = Instant::now() + QEMU_TIMEOUT;
    while !qemu.exited() {
        if let Some(status) = drain.try_wait().expect("poll runlog drain") {
            let mut err = String::new();
            if let Some(mut e) = drain.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            panic!("runlog drain exited ({status}) before the firmware finished: {err}");
        }
        assert!(
            Instant::now() < deadline,
            "the firmware did not finish within {QEMU_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let console = qemu.wait();
    // QEMU closed the socket when the firmware exited: the drain sees the end.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = drain.try_wait().expect("poll runlog drain") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = drain.kill();
            let _ = drain.wait();
            panic!("runlog drain did not finish after the firmware exited");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    if let Some(mut e) = drain.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    assert!(status.success(), "runlog drain failed ({status}): {err}");
    console
}

/// A metric value, owned, with floats as bits so NaN compares too.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    I64(i64),
    F64(u64),
    Str(String),
    F64List(Vec<u64>),
    I64List(Vec<i64>),
}

/// An artifact reassembled from its chunks.
#[derive(Debug, Default)]
pub struct Artifact {
    pub content: Vec<u8>,
    pub crc_ok: bool,
}

/// Everything decoded from a capture.
#[derive(Debug, Default)]
pub struct Got {
    pub run_start: Option<(String, String)>,
    pub run_end: Option<String>,
    pub metrics: BTreeMap<String, Vec<Val>>,
    pub artifacts: BTreeMap<String, Artifact>,
    pub dropped: u64,
    pub frames_lost: u64,
    pub records_lost: u64,
    pub errors: Vec<String>,
    pub records: u64,
}

/// Decodes a UART capture with runlog-core's frame decoder.
pub fn decode_capture(bytes: &[u8]) -> Got {
    let mut got = Got::default();
    let mut open: BTreeMap<u32, (String, u64, Vec<u8>)> = BTreeMap::new();
    let mut decoder = FrameDecoder::new();
    decoder.feed(bytes, |event| match event {
        Event::Record { record, .. } => {
            got.records += 1;
            match record {
                Record::RunStart(s) => {
                    got.run_start = Some((s.run_id.into(), s.experiment.into()));
                }
                Record::RunEnd { status, .. } => got.run_end = Some(format!("{status:?}")),
                Record::Metric(m) => {
                    let Name::Text(name) = m.name else {
                        got.errors.push("metric with an unresolved name id".into());
                        return;
                    };
                    let v = match m.value {
                        Value::I64(v) => Val::I64(v),
                        Value::F64(v) => Val::F64(v.to_bits()),
                        Value::Str(s) => Val::Str(s.into()),
                        Value::F64List(l) => Val::F64List(l.iter().map(f64::to_bits).collect()),
                        Value::I64List(l) => Val::I64List(l.iter().collect()),
                    };
                    got.metrics.entry(name.into()).or_default().push(v);
                }
                Record::ArtifactBegin { id, path, len } => {
                    open.insert(id, (path.into(), len, Vec::new()));
                }
                Record::ArtifactChunk { id, offset, data } => match open.get_mut(&id) {
                    Some((_, _, content)) if offset == content.len() as u64 => {
                        content.extend_from_slice(data.0)
                    }
                    _ => got.errors.push(format!("stray chunk of artifact {id}")),
                },
                Record::ArtifactEnd { id, crc32: crc } => match open.remove(&id) {
                    Some((path, len, content)) => {
                        let crc_ok = content.len() as u64 == len && crc32(&content) == crc;
                        got.artifacts.insert(path, Artifact { content, crc_ok });
                    }
                    None => got.errors.push(format!("end of unknown artifact {id}")),
                },
                Record::Dropped { count } => got.dropped += u64::from(count),
                other => got.errors.push(format!("unexpected record {other:?}")),
            }
        }
        Event::FrameLost(e) => {
            got.frames_lost += 1;
            got.errors.push(format!("frame lost: {e}"));
        }
        Event::RecordsLost(n) => got.records_lost += n,
    });
    got
}

/// Stream bytes (COBS, delimiter, header, name definitions and CRC all
/// counted) spent on frames that carry nothing but the metric `name`.
#[derive(Debug, Default)]
pub struct PerMetric {
    pub bytes: usize,
    pub records: usize,
}

/// Measures [`PerMetric`] over every frame of `stream` that holds only `name`.
pub fn stream_bytes_per_metric(stream: &[u8], name: &str) -> PerMetric {
    let mut out = PerMetric::default();
    for frame in stream.split_inclusive(|&b| b == 0) {
        let (mut only_name, mut records) = (true, 0usize);
        FrameDecoder::new().feed(frame, |event| match event {
            Event::Record {
                record:
                    Record::Metric(runlog_core::Metric {
                        name: Name::Text(n),
                        value: Value::F64(_),
                        ..
                    }),
                ..
            } if n == name => records += 1,
            _ => only_name = false,
        });
        if only_name && records > 0 {
            out.bytes += frame.len();
            out.records += records;
        }
    }
    out
}

/// The value of `loss` at step `i` in both example firmwares.
pub fn expected_loss(i: u32) -> f64 {
    1.0 / f64::from(i + 1)
}
