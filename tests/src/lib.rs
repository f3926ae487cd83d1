//! Helpers shared by runlog integration tests: building the C library and C
//! programs against `include/`, and a spool consumer built from runlog-core
//! (the same `Consumer` the uploader uses) that drains spool files.

pub mod device;
pub mod postgres;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use memmap2::MmapMut;
use runlog_core::crc::crc32;
use runlog_core::record::{Name, Record, RunStatus, Value};
use runlog_core::ring::Consumer;
use runlog_core::spool::{read_header, SPOOL_HEADER_LEN};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// The profile these tests are built in, "debug" or "release" (this crate is
/// built in the same one): what `runlog` and `librunlog` are built in for them.
pub fn test_profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

/// The `runlog` binary, built once per test process in the same profile as
/// the tests (`cargo build -p runlog-uploader --bin runlog`).
pub fn runlog_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(repo_root()).args([
            "build",
            "-q",
            "-p",
            "runlog-uploader",
            "--bin",
            "runlog",
        ]);
        let profile = if cfg!(debug_assertions) {
            "debug"
        } else {
            cmd.arg("--release");
            "release"
        };
        assert!(cmd.status().unwrap().success(), "cargo build runlog failed");
        target_dir().join(profile).join("runlog")
    })
    .clone()
}

/// Builds `librunlog.a` (host, feature `std`) in `profile` ("debug" or
/// "release") once per test process and returns its directory.
pub fn ffi_lib_dir(profile: &str) -> PathBuf {
    static DEBUG: OnceLock<PathBuf> = OnceLock::new();
    static RELEASE: OnceLock<PathBuf> = OnceLock::new();
    let cell = if profile == "release" {
        &RELEASE
    } else {
        &DEBUG
    };
    cell.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(repo_root())
            .args(["build", "-q", "-p", "runlog-ffi"]);
        if profile == "release" {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build -p runlog-ffi");
        assert!(status.success(), "cargo build -p runlog-ffi failed");
        let dir = target_dir().join(profile);
        link_soname(&dir);
        dir
    })
    .clone()
}

/// Gives `dir/librunlog.so` the name a program linked with `-lrunlog` asks
/// for at run time: its SONAME `librunlog.so.MAJOR` (set by `ffi/build.rs`;
/// an install makes the same link, see `scripts/install.sh`).
fn link_soname(dir: &Path) {
    let soname = dir.join(concat!("librunlog.so.", env!("CARGO_PKG_VERSION_MAJOR")));
    if std::fs::symlink_metadata(&soname).is_err() {
        match std::os::unix::fs::symlink("librunlog.so", &soname) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => panic!("cannot link {}: {e}", soname.display()),
        }
    }
}

/// Which compiler and standard a test program uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// `gcc -std=c11`.
    C11,
    /// `g++ -std=c++17`.
    Cxx17,
}

/// How to build a C or C++ program against `include/` and `librunlog.a`.
#[derive(Debug, Clone)]
pub struct CBuild {
    /// Compiler and language standard.
    pub lang: Lang,
    /// AddressSanitizer + UndefinedBehaviorSanitizer.
    pub sanitize: bool,
    /// Optimisation flag, e.g. `-O0` or `-O2`.
    pub opt: &'static str,
    /// Library profile: "debug" or "release".
    pub profile: &'static str,
    /// Link `librunlog.so` (with an rpath) instead of `librunlog.a`.
    pub shared: bool,
}

impl CBuild {
    /// C11 with the sanitizers, against the debug library.
    pub fn c11() -> Self {
        Self {
            lang: Lang::C11,
            sanitize: true,
            opt: "-O1",
            profile: "debug",
            shared: false,
        }
    }

    /// [`CBuild::c11`] against the library of the tests' own profile
    /// ([`test_profile`]), so `cargo test --release` builds nothing in debug.
    pub fn c11_in_test_profile() -> Self {
        Self {
            profile: test_profile(),
            ..Self::c11()
        }
    }

    /// C++17 with the sanitizers, against the debug library.
    pub fn cxx17() -> Self {
        Self {
            lang: Lang::Cxx17,
            ..Self::c11()
        }
    }

    /// Compiles `sources` into the executable `out` with `-Wall -Wextra
    /// -Werror -pedantic`, panicking with the compiler's output on failure.
    pub fn build(&self, sources: &[PathBuf], out: &Path) {
        let lib_dir = ffi_lib_dir(self.profile);
        let (cc, std) = match self.lang {
            Lang::C11 => ("gcc", "-std=c11"),
            Lang::Cxx17 => ("g++", "-std=c++17"),
        };
        let mut cmd = Command::new(cc);
        cmd.args([
            std,
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-g",
            self.opt,
        ])
        .arg("-D_POSIX_C_SOURCE=200809L")
        .arg("-I")
        .arg(repo_root().join("include"));
        if self.sanitize {
            cmd.args(["-fsanitize=address,undefined", "-fno-omit-frame-pointer"])
                .arg("-fno-sanitize-recover=all");
        }
        cmd.args(sources);
        if self.shared {
            cmd.arg("-L")
                .arg(&lib_dir)
                .arg("-lrunlog")
                .arg(format!("-Wl,-rpath,{}", lib_dir.display()));
        } else {
            cmd.arg(lib_dir.join("librunlog.a"));
        }
        cmd.args(["-lpthread", "-ldl", "-lm", "-o"]).arg(out);
        let output = cmd.output().expect("run the C compiler");
        assert!(
            output.status.success(),
            "{cc} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Where [`scratch_dir`] puts the directory `name` (reused by the next run,
/// so old runs do not pile up; names are unique across tests).
pub fn scratch_path(name: &str) -> PathBuf {
    target_dir().join("runlog-test-scratch").join(name)
}

/// A fresh empty directory under the target directory, for one test.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = scratch_path(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A record read from a ring, owning its data.
#[derive(Debug, Clone, PartialEq)]
pub enum Rec {
    /// `RunStart`.
    RunStart {
        /// Run id.
        run_id: String,
        /// Experiment.
        experiment: String,
    },
    /// A metric; `time_ms` kept to check it is present.
    Metric {
        /// Name (rings always carry text).
        name: String,
        /// Value.
        value: Val,
        /// Wall-clock time, if stamped.
        time_ms: Option<u64>,
        /// The explicit step, if any (`runlog_log_*_at`).
        step: Option<u64>,
    },
    /// `Param` (`runlog_log_param`).
    Param {
        /// Key.
        key: String,
        /// Value.
        value: String,
    },
    /// `Tag` (`runlog_set_tag`).
    Tag {
        /// Key.
        key: String,
        /// Value.
        value: String,
    },
    /// `RunEnd`.
    RunEnd(RunStatus),
    /// `ArtifactBegin`.
    ArtifactBegin {
        /// Id.
        id: u32,
        /// Path.
        path: String,
        /// Length.
        len: u64,
    },
    /// `ArtifactChunk`.
    ArtifactChunk {
        /// Id.
        id: u32,
        /// Offset.
        offset: u64,
        /// Data.
        data: Vec<u8>,
    },
    /// `ArtifactEnd`.
    ArtifactEnd {
        /// Id.
        id: u32,
        /// CRC-32.
        crc32: u32,
    },
    /// `ArtifactFile`.
    ArtifactFile {
        /// Path.
        path: String,
        /// Staged file name.
        file: String,
        /// Length.
        len: u64,
        /// CRC-32.
        crc32: u32,
    },
    /// `Dropped`.
    Dropped(u32),
    /// Anything else (never expected in a ring).
    Other(String),
}

/// An owned metric value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// Integer.
    I64(i64),
    /// Float.
    F64(f64),
    /// String.
    Str(String),
    /// List of floats.
    F64List(Vec<f64>),
    /// List of integers.
    I64List(Vec<i64>),
}

impl Rec {
    /// Converts a borrowed record.
    pub fn from_record(r: &Record<'_>) -> Rec {
        match *r {
            Record::RunStart(s) => Rec::RunStart {
                run_id: s.run_id.into(),
                experiment: s.experiment.into(),
            },
            Record::Metric(m) => Rec::Metric {
                name: match m.name {
                    Name::Text(t) => t.into(),
                    Name::Id(id) => format!("#{id}"),
                },
                value: match m.value {
                    Value::I64(v) => Val::I64(v),
                    Value::F64(v) => Val::F64(v),
                    Value::Str(s) => Val::Str(s.into()),
                    Value::F64List(l) => Val::F64List(l.iter().collect()),
                    Value::I64List(l) => Val::I64List(l.iter().collect()),
                },
                time_ms: m.time_ms,
                step: m.step,
            },
            Record::Param { key, value } => Rec::Param {
                key: key.into(),
                value: value.into(),
            },
            Record::Tag { key, value } => Rec::Tag {
                key: key.into(),
                value: value.into(),
            },
            Record::RunEnd { status, .. } => Rec::RunEnd(status),
            Record::ArtifactBegin { id, path, len } => Rec::ArtifactBegin {
                id,
                path: path.into(),
                len,
            },
            Record::ArtifactChunk { id, offset, data } => Rec::ArtifactChunk {
                id,
                offset,
                data: data.0.to_vec(),
            },
            Record::ArtifactEnd { id, crc32 } => Rec::ArtifactEnd { id, crc32 },
            Record::ArtifactFile {
                path,
                file,
                len,
                crc32,
            } => Rec::ArtifactFile {
                path: path.into(),
                file: file.into(),
                len,
                crc32,
            },
            Record::Dropped { count } => Rec::Dropped(count),
            other => Rec::Other(format!("{other:?}")),
        }
    }

    /// The metric's name and value, if this is a metric.
    pub fn metric(&self) -> Option<(&str, &Val)> {
        match self {
            Rec::Metric { name, value, .. } => Some((name, value)),
            _ => None,
        }
    }
}

/// A spool file attached with `Consumer::attach`, as the uploader does.
pub struct SpoolReader {
    consumer: Consumer<'static>,
    _map: MmapMut,
    /// Releases records without decoding them (any wire version).
    raw: bool,
    /// The run id in the spool header.
    pub run_id: String,
    /// The experiment in the spool header.
    pub experiment: String,
}

impl SpoolReader {
    /// Maps `path` and attaches to its ring, validating the header.
    pub fn attach(path: &Path) -> Result<Self, String> {
        Self::attach_with(path, false)
    }

    /// Attaches without reading the spool header's versions or decoding
    /// records: for benchmarks of older librunlog builds, whose rings have
    /// the same layout but another wire version. `drain` only counts.
    pub fn attach_raw(path: &Path) -> Result<Self, String> {
        Self::attach_with(path, true)
    }

    fn attach_with(path: &Path, raw: bool) -> Result<Self, String> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        // SAFETY: the writer only changes the file through the ring protocol;
        // the consumer validates everything it reads.
        let mut map = unsafe { MmapMut::map_mut(&file) }.map_err(|e| e.to_string())?;
        let (run_id, experiment) = if raw {
            (String::new(), String::new())
        } else {
            let info = read_header(&map).map_err(|e| e.to_string())?;
            (info.run_id.to_owned(), info.experiment.to_owned())
        };
        if map.len() < SPOOL_HEADER_LEN {
            return Err(format!("{}: shorter than a spool header", path.display()));
        }
        let len = map.len() - SPOOL_HEADER_LEN;
        // SAFETY: the mapping lives in `_map` as long as the consumer (both in
        // `Self`; moving an `MmapMut` does not move the mapping); this is the
        // ring's only consumer.
        let consumer = unsafe { Consumer::attach(map.as_mut_ptr().add(SPOOL_HEADER_LEN), len) }
            .map_err(|e| e.to_string())?;
        Ok(Self {
            consumer,
            _map: map,
            raw,
            run_id,
            experiment,
        })
    }

    /// Writes a heartbeat, then reads every published record and commits
    /// (releases and acknowledges) them.
    ///
    /// The heartbeat comes first, as in the uploader's pass: a producer that
    /// sees its records committed must also see a live uploader, or a
    /// `runlog_close` right after the first commit returns TIMEOUT ("no
    /// uploader is draining") instead of waiting (host_api's tickets test
    /// failed about 1 run in 300 that way).
    pub fn drain(&mut self, mut on: impl FnMut(u64, Rec)) -> Result<usize, String> {
        self.heartbeat();
        let mut n = 0;
        while let Some(entry) = self.consumer.read().map_err(|e| e.to_string())? {
            if self.raw {
                n += 1;
                continue;
            }
            let rec = entry.record().map_err(|e| e.to_string())?;
            on(entry.seq, Rec::from_record(&rec));
            n += 1;
        }
        self.consumer.commit();
        Ok(n)
    }

    /// Writes a heartbeat: seconds since the Unix epoch.
    pub fn heartbeat(&mut self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        self.consumer.heartbeat(now as u32);
    }

    /// Whether the producer marked the stream finished.
    pub fn producer_closed(&self) -> bool {
        self.consumer.producer_closed()
    }

    /// Log calls refused because the ring was full.
    pub fn dropped_total(&self) -> u32 {
        self.consumer.dropped_total()
    }
}

/// The ring files (`*.ring`, not dot-files) in a spool directory.
pub fn ring_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    name.ends_with(".ring") && !name.starts_with('.')
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Records per ring file, each with its sequence number.
pub type Drained = BTreeMap<PathBuf, Vec<(u64, Rec)>>;

/// A consumer thread draining every ring file that appears in a spool
/// directory, committing as it goes, like the uploader.
pub struct Drainer {
    stop: Arc<AtomicBool>,
    records: Arc<Mutex<Drained>>,
    handle: Option<JoinHandle<Result<(), String>>>,
}

impl Drainer {
    /// Starts draining `dir`; `keep` stores the records (else only counts them).
    pub fn start(dir: &Path, keep: bool) -> Self {
        Self::start_with(dir, keep, false)
    }

    /// Drains rings of any wire version without decoding their records (see
    /// [`SpoolReader::attach_raw`]); records are only counted.
    pub fn start_raw(dir: &Path) -> Self {
        Self::start_with(dir, false, true)
    }

    fn start_with(dir: &Path, keep: bool, raw: bool) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let records: Arc<Mutex<Drained>> = Arc::default();
        let (dir, stop2, rec2) = (dir.to_path_buf(), stop.clone(), records.clone());
        let handle = std::thread::spawn(move || {
            let mut readers: BTreeMap<PathBuf, SpoolReader> = BTreeMap::new();
            let mut last_scan = std::time::Instant::now() - Duration::from_secs(1);
            loop {
                let stopping = stop2.load(Ordering::Acquire);
                if stopping || last_scan.elapsed() > Duration::from_millis(5) {
                    for path in ring_files(&dir) {
                        if !readers.contains_key(&path) {
                            let reader = if raw {
                                SpoolReader::attach_raw(&path)?
                            } else {
                                SpoolReader::attach(&path)?
                            };
                            readers.insert(path.clone(), reader);
                        }
                    }
                    last_scan = std::time::Instant::now();
                }
                let mut moved = 0;
                for (path, reader) in readers.iter_mut() {
                    let mut batch = Vec::new();
                    moved += reader.drain(|seq, rec| {
                        if keep {
                            batch.push((seq, rec));
                        }
                    })?;
                    if keep && !batch.is_empty() {
                        rec2.lock()
                            .unwrap()
                            .entry(path.clone())
                            .or_default()
                            .extend(batch);
                    } else if !keep {
                        rec2.lock().unwrap().entry(path.clone()).or_default();
                    }
                }
                if stopping {
                    return Ok(());
                }
                if moved == 0 {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        });
        Self {
            stop,
            records,
            handle: Some(handle),
        }
    }

    /// Records drained so far.
    pub fn snapshot(&self) -> Drained {
        self.records.lock().unwrap().clone()
    }

    /// Stops after a last pass and returns everything drained.
    pub fn finish(mut self) -> Drained {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            h.join().expect("drainer thread").expect("drainer failed");
        }
        std::mem::take(&mut *self.records.lock().unwrap())
    }
}

impl Drop for Drainer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Reassembles the artifacts in `records` (path -> content), checking every
/// CRC and length, reading staged files from `spool_dir` as the uploader would.
/// Incomplete artifacts (no end record) are left out.
pub fn artifacts(records: &[(u64, Rec)], spool_dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut open: BTreeMap<u32, (String, u64, Vec<u8>)> = BTreeMap::new();
    let mut done = BTreeMap::new();
    for (_, rec) in records {
        match rec {
            Rec::ArtifactBegin { id, path, len } => {
                open.insert(*id, (path.clone(), *len, Vec::new()));
            }
            Rec::ArtifactChunk { id, offset, data } => {
                let a = open.get_mut(id).expect("chunk of an unknown artifact");
                assert_eq!(*offset, a.2.len() as u64, "chunks arrive in order");
                a.2.extend_from_slice(data);
            }
            Rec::ArtifactEnd { id, crc32: crc } => {
                let (path, len, data) = open.remove(id).expect("end of an unknown artifact");
                assert_eq!(len, data.len() as u64, "artifact {path} length");
                assert_eq!(*crc, crc32(&data), "artifact {path} CRC");
                done.insert(path, data);
            }
            Rec::ArtifactFile {
                path,
                file,
                len,
                crc32: crc,
            } => {
                assert!(!file.contains('/'), "staged file is a bare name");
                let data = std::fs::read(spool_dir.join(file)).expect("staged file exists");
                assert_eq!(*len, data.len() as u64, "staged {path} length");
                assert_eq!(*crc, crc32(&data), "staged {path} CRC");
                done.insert(path.clone(), data);
            }
            _ => {}
        }
    }
    done
}

/// Every record of every ring, in ring order, flattened.
pub fn all_records(d: &Drained) -> Vec<(u64, Rec)> {
    d.values().flat_map(|v| v.iter().cloned()).collect()
}
