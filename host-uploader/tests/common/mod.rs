//! Shared by the serve and MLflow tests: processes the tests start (and stop
//! on drop), a Rust producer of real spool rings, the MLflow venv's Python.
#![allow(dead_code)]

use std::fs::{self, OpenOptions};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use memmap2::MmapMut;
use runlog_core::list::{F64List, I64List};
use runlog_core::spool::{write_header, SpoolInfo, SPOOL_HEADER_LEN};
use runlog_core::{Bytes, Metric, Name, Producer, Record, RunStatus, Value};

/// The PostgreSQL-backed MLflow server's helpers: the one copy, shared with
/// the runlog-tests crate (see there).
#[path = "../../../tests/src/postgres.rs"]
mod postgres;
// Each test binary uses a part of `common` (as with dead_code above).
#[allow(unused_imports)]
pub use postgres::{pg_server, psql};

mod raw_http;
#[allow(unused_imports)]
pub use raw_http::{raw_get, raw_http, raw_post_json};

/// The `runlog` binary under test.
pub fn runlog_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_runlog"))
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Where tests leave files for people to look at (screenshots).
pub fn artifacts_dir() -> PathBuf {
    let d = std::env::var_os("RUNLOG_TEST_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target").join("test-artifacts"));
    fs::create_dir_all(&d).unwrap();
    d
}

/// A Python with `mlflow` importable: $RUNLOG_MLFLOW_PYTHON, `.venv/bin/python`,
/// or /work/venv-probe. Without one the test fails under CI and is skipped
/// (with a message) elsewhere.
pub fn mlflow_python() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("RUNLOG_MLFLOW_PYTHON") {
        candidates.push(PathBuf::from(p));
    }
    candidates.push(workspace().join(".venv/bin/python"));
    candidates.push(PathBuf::from("/work/venv-probe/bin/python"));
    for c in candidates {
        let ok = Command::new(&c)
            .args(["-c", "import mlflow"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(c);
        }
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(
        !ci,
        "no Python with mlflow found (set RUNLOG_MLFLOW_PYTHON); CI must run the MLflow interop tests"
    );
    eprintln!("SKIPPED: no Python with mlflow (set RUNLOG_MLFLOW_PYTHON)");
    None
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed (and reaped) on drop.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    /// Starts `cmd` as the leader of a new process group, so that stopping
    /// it also stops whatever it started (mlflow server forks uvicorn workers
    /// and job runners that outlive a killed parent).
    pub fn spawn(name: &str, cmd: &mut Command) -> Self {
        use std::os::unix::process::CommandExt;
        let child = cmd
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self {
            child,
            name: name.into(),
        }
    }

    /// Sends SIGTERM and waits (SIGKILL after 10 s).
    pub fn stop(&mut self) {
        self.signal_group(libc::SIGTERM);
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if self.child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Whatever of the group is still there (the leader, or children that
        // outlived it) goes now.
        self.signal_group(libc::SIGKILL);
        let _ = self.child.wait();
    }

    fn signal_group(&self, signal: i32) {
        // SAFETY: kill(2) on the process group this Proc's child leads
        // (spawned with process_group(0), so its pgid is its pid).
        unsafe { libc::kill(-(self.child.id() as i32), signal) };
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.signal_group(libc::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Waits until `url` answers 200 (GET), or panics after `timeout`.
pub fn wait_http(url: &str, timeout: Duration, proc: &mut Proc) {
    let t = Instant::now();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(2)))
        .build()
        .into();
    loop {
        if let Ok(r) = agent.get(url).call() {
            if r.status() == 200 {
                return;
            }
        }
        if let Ok(Some(st)) = proc.child.try_wait() {
            panic!("{} exited early with {st}", proc.name);
        }
        assert!(
            t.elapsed() < timeout,
            "{url} did not come up within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `runlog serve` on a free port over `store`.
pub fn start_serve(store: &Path, port: u16, extra: &[&str]) -> Proc {
    let mut cmd = Command::new(runlog_bin());
    cmd.arg("--tracking-uri")
        .arg(store)
        .args(["serve", "--port", &port.to_string()])
        .args(extra);
    let mut p = Proc::spawn("runlog serve", &mut cmd);
    let url = format!("http://127.0.0.1:{port}/");
    wait_http(&url, Duration::from_secs(20), &mut p);
    p
}

/// A real `mlflow server` (sqlite backend, proxied artifacts) in `dir`.
pub fn start_mlflow(python: &Path, dir: &Path, port: u16) -> Proc {
    fs::create_dir_all(dir).unwrap();
    let log = fs::File::create(dir.join("mlflow-server.log")).unwrap();
    let mut cmd = Command::new(python);
    cmd.args(["-m", "mlflow", "server", "--host", "127.0.0.1"])
        .args(["--port", &port.to_string()])
        .arg("--backend-store-uri")
        .arg(format!("sqlite:///{}", dir.join("mlflow.db").display()))
        .arg("--serve-artifacts")
        .arg("--artifacts-destination")
        .arg(dir.join("artifacts"))
        .args(["--workers", "1"])
        .current_dir(dir)
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    let mut p = Proc::spawn("mlflow server", &mut cmd);
    wait_http(
        &format!("http://127.0.0.1:{port}/health"),
        Duration::from_secs(180),
        &mut p,
    );
    p
}

/// Runs a Python script with the MLflow venv; returns stdout, panics with stderr on failure.
pub fn python(python: &Path, script: &str, args: &[&str]) -> String {
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .env("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
        .env("GIT_PYTHON_REFRESH", "quiet")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs `runlog` with args; returns (success, stdout, stderr).
pub fn runlog(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(runlog_bin()).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A spool ring file written the way librunlog writes one (docs/ffi.md,
/// "The spool directory"): header, formatted ring, RunStart, then renamed into place.
pub struct RingWriter {
    // Field order: the producer borrows the mapping, so it drops first.
    producer: Producer<'static>,
    _map: MmapMut,
    pub path: PathBuf,
}

impl RingWriter {
    pub fn create(dir: &Path, run_id: &str, experiment: &str, capacity: usize) -> Self {
        fs::create_dir_all(dir).unwrap();
        let stem = format!("{run_id}-{}-0", std::process::id());
        let tmp = dir.join(format!(".{stem}.ring.tmp"));
        let path = dir.join(format!("{stem}.ring"));
        let len = SPOOL_HEADER_LEN + runlog_core::ring::storage_len(capacity as u32);
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .unwrap();
        f.set_len(len as u64).unwrap();
        // SAFETY: the file was just created by this process and nothing else maps it yet.
        let mut map = unsafe { MmapMut::map_mut(&f) }.unwrap();
        let now = now_ms();
        write_header(
            &SpoolInfo {
                run_id,
                experiment,
                pid: std::process::id(),
                created_ms: now,
            },
            &mut map[..],
        )
        .unwrap();
        let ring = &mut map[SPOOL_HEADER_LEN..];
        // SAFETY: the mapping lives as long as `producer` (both are fields of
        // the returned value, the producer dropped first), and this is the only producer.
        let mut producer = unsafe { Producer::format(ring.as_mut_ptr(), ring.len()) }.unwrap();
        producer
            .push(&Record::RunStart(runlog_core::RunStart {
                run_id,
                experiment,
                time_ms: Some(now),
            }))
            .unwrap();
        fs::rename(&tmp, &path).unwrap();
        Self {
            producer,
            _map: map,
            path,
        }
    }

    pub fn push(&mut self, r: &Record<'_>) -> u64 {
        self.producer.push(r).expect("ring has room")
    }

    /// Pushes `r` if the ring has room now; `None` if it is full.
    #[allow(dead_code)]
    pub fn try_push(&mut self, r: &Record<'_>) -> Option<u64> {
        self.producer.push(r).ok()
    }

    pub fn metric(&mut self, name: &str, value: Value<'_>) -> u64 {
        self.push(&Record::Metric(Metric {
            name: Name::Text(name),
            value,
            step: None,
            time_ms: Some(now_ms()),
        }))
    }

    pub fn artifact(&mut self, id: u32, path: &str, data: &[u8]) {
        self.push(&Record::ArtifactBegin {
            id,
            path,
            len: data.len() as u64,
        });
        for (i, chunk) in data.chunks(1000).enumerate() {
            self.push(&Record::ArtifactChunk {
                id,
                offset: (i * 1000) as u64,
                data: Bytes(chunk),
            });
        }
        self.push(&Record::ArtifactEnd {
            id,
            crc32: runlog_core::crc::crc32(data),
        });
    }

    pub fn end(&mut self, status: RunStatus) -> u64 {
        let t = self.push(&Record::RunEnd {
            status,
            time_ms: Some(now_ms()),
        });
        self.producer.close();
        t
    }

    pub fn acked(&self) -> u64 {
        self.producer.acked()
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// What the original API's example (examples/train.c) logs, through a real ring.
pub const SUMMARY: &str = "epochs=5\naccuracy=0.880\nloss=0.092085\n";

pub fn write_train_example(dir: &Path, run_id: &str, experiment: &str) {
    let mut w = RingWriter::create(dir, run_id, experiment, 1 << 20);
    let reg = 0.01;
    w.metric("Epochs", Value::I64(5));
    w.metric("Regularization Rate", Value::F64(reg));
    w.metric("Optimizer", Value::Str("sgd"));
    let mut losses = [0.0f64; 5];
    let mut correct = [0i64; 5];
    for e in 0..5 {
        losses[e] = (-0.5 * (e as f64 + 1.0)).exp() + reg;
        correct[e] = 600 + 70 * e as i64;
        w.metric("Loss", Value::F64(losses[e]));
    }
    w.metric("Loss per epoch", Value::F64List(F64List::new(&losses)));
    w.metric("Correct per epoch", Value::I64List(I64List::new(&correct)));
    w.metric("Accuracy", Value::F64(correct[4] as f64 / 1000.0));
    w.metric("Final loss", Value::F64(losses[4]));
    w.artifact(1, "reports/summary.txt", SUMMARY.as_bytes());
    w.artifact(2, "model/model.txt", b"weights: 0.010000 0.880000\n");
    w.end(RunStatus::Finished);
}

/// Builds the original API's example, `examples/train.c`, against
/// `librunlog.a` (built here with `cargo build -p runlog-ffi`) into `dir/train`.
pub fn build_c_example(dir: &Path) -> PathBuf {
    build_example(dir, "examples/train.c", "train")
}

/// Builds the example `source` (a path under the workspace: `.c` with gcc
/// -std=c11, else g++ -std=c++17; -Wall -Wextra -Werror -pedantic) against
/// `librunlog.a` (built here with `cargo build -p runlog-ffi` in the tests'
/// profile) into `dir/exe`.
pub fn build_example(dir: &Path, source: &str, exe: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let release = cfg!(not(debug_assertions));
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace())
        .args(["build", "-q", "-p", "runlog-ffi"]);
    if release {
        cmd.arg("--release");
    }
    assert!(
        cmd.status().unwrap().success(),
        "cargo build -p runlog-ffi failed"
    );
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let lib = target
        .join(if release { "release" } else { "debug" })
        .join("librunlog.a");
    let exe = dir.join(exe);
    let c = source.ends_with(".c");
    let mut compile = Command::new(if c { "gcc" } else { "g++" });
    compile.args([
        if c { "-std=c11" } else { "-std=c++17" },
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
        "-O1",
    ]);
    if c {
        compile.arg("-g").arg("-D_POSIX_C_SOURCE=200809L");
    }
    let out = compile
        .arg("-I")
        .arg(workspace().join("include"))
        .arg(workspace().join(source))
        .arg(lib)
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&exe)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "compiling {source} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}
