//! One run from a real Open MPI job on two simulated nodes.
//!
//! How the two nodes are simulated, honestly: `mpirun -n 4` starts a small
//! launcher script per rank, which puts ranks 0-1 on "nodeA" and ranks 2-3
//! on "nodeB": each node is its own working directory (so its own
//! `.runlog/spool`) and its own `RUNLOG_NODE`, and every rank is wrapped by
//! that node's `runlog run` (as torchrun or `srun` wrap each process), which
//! drains the node's spool into one shared `runlog serve` over HTTP. Nothing
//! tells the wrappers the run id: each derives it from Open MPI's job id
//! (`OMPI_MCA_ess_base_jobid`), and the ranks' C program (real MPI, an
//! all-reduce per step) gets its rank from Open MPI's environment. What is
//! not simulated: separate kernels (the nodes share this machine's host
//! metrics) and a network between the nodes' uploaders and the server
//! (127.0.0.1).
//!
//! Checked as a user would see it: one run; four ranks' `loss` series kept
//! apart (`loss`, `loss/rank1`, ...), complete and each holding only its
//! rank's values; per-node system metrics; FINISHED, or, when rank 2 exits
//! 3, FAILED with `history info` naming rank 2, nodeB and exit 3.
//!
//! Each node's `runlog run` records into its node's local store and
//! delivers from there (offline first, exactly once): the wrapper of rank 0
//! creates the server run, every node keeps its own sync tag, and the run's
//! status is settled from the rank ends the server holds. The same job also
//! runs against a real MLflow server on PostgreSQL (RUNLOG_MLFLOW_PG_URI and
//! RUNLOG_MLFLOW_PG_DSN from `scripts/mlflow-pg.sh`; under `CI=true` their
//! absence fails), checked in its database.
//!
//! Needs `mpirun` and `mpicc` (Debian openmpi-bin, libopenmpi-dev): skipped
//! without them, except under `CI=true`, where their absence fails.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use runlog_tests::postgres::{pg_server, psql};
use runlog_tests::{ffi_lib_dir, repo_root, runlog_bin, scratch_dir};

const STEPS: i64 = 40;

/// Whether Open MPI is here; `CI=true` without it is a failure.
fn have_mpi() -> bool {
    let ok = ["mpirun", "mpicc"].iter().all(|t| {
        Command::new(t)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "mpirun/mpicc missing under CI=true: .ci/run installs openmpi-bin libopenmpi-dev"
        );
        eprintln!("skipped: Open MPI (mpirun, mpicc) is not installed");
    }
    ok
}

/// A child killed on drop.
struct Serve(Child);
impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_serve(store: &Path) -> (Serve, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(runlog_bin())
        .arg("--tracking-uri")
        .arg(store)
        .args(["serve", "--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let serve = Serve(child);
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "runlog serve did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (serve, format!("http://127.0.0.1:{port}"))
}

fn build_program(dir: &Path) -> PathBuf {
    let exe = dir.join("mpi_train");
    let lib = ffi_lib_dir(if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    });
    let out = Command::new("mpicc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1"])
        .arg("-D_POSIX_C_SOURCE=200809L")
        .arg("-I")
        .arg(repo_root().join("include"))
        .arg(repo_root().join("tests/c/mpi_train.c"))
        .arg(lib.join("librunlog.a"))
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&exe)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mpicc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// What a job ran against.
struct Job {
    /// mpirun's exit code.
    code: Option<i32>,
    /// Everything printed, and `history info -o json` of the run.
    out: String,
    /// The run id every wrapper printed.
    run_id: String,
    /// The run's id on the server, as `history info` over HTTP shows it.
    server_id: String,
}

/// Runs the job: `mpirun -n 4` over the launcher, every node's wrapper
/// delivering to `uri`.
fn run_job(name: &str, fail_rank: i32, uri: &str, read_info: bool) -> Job {
    let root = scratch_dir(name);
    let exe = build_program(&root);
    for node in ["nodeA", "nodeB"] {
        std::fs::create_dir_all(root.join(node)).unwrap();
    }
    let launcher = root.join("place-rank.sh");
    std::fs::write(
        &launcher,
        format!(
            "#!/bin/sh\n\
             # Ranks 0-1 on nodeA, 2-3 on nodeB, each under its node's runlog run.\n\
             if [ \"$OMPI_COMM_WORLD_RANK\" -lt 2 ]; then node=nodeA; else node=nodeB; fi\n\
             cd \"{root}/$node\" || exit 90\n\
             RUNLOG_NODE=$node exec \"{bin}\" --tracking-uri \"{uri}\" run --experiment mpi \
             --system-metrics-interval 0.2 -- \"{exe}\" {STEPS} {fail_rank}\n",
            root = root.display(),
            bin = runlog_bin().display(),
            exe = exe.display(),
        ),
    )
    .unwrap();
    let mut mpirun = Command::new("timeout");
    mpirun.args(["180", "mpirun", "-n", "4", "--oversubscribe"]);
    // CI runs as root; Open MPI refuses root unless told.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        mpirun.arg("--allow-run-as-root");
    }
    // A failing rank must not make mpirun kill the other ranks' uploaders
    // while they record their ends.
    mpirun.args(["--mca", "orte_abort_on_non_zero_status", "0"]);
    let started = Instant::now();
    let out = mpirun
        .args(["sh"])
        .arg(&launcher)
        .current_dir(&root)
        .env_remove("RUNLOG_RUN_ID")
        .env_remove("RUNLOG_RANK")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("mpirun took {:?}:\n{text}", started.elapsed());
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("ompi-"))
        .map(str::to_string)
        .collect();
    assert_eq!(ids.len(), 4, "every wrapper prints the run id:\n{text}");
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "one run id: {ids:?}\n{text}"
    );
    let run_id = ids[0].to_string();
    if !read_info {
        // (Reading every series back through MLflow's REST API is slow; the
        // caller checks the server's database instead.)
        return Job {
            code: out.status.code(),
            out: text,
            run_id,
            server_id: String::new(),
        };
    }
    // The server's store, read through the real CLI while the server runs.
    let info = Command::new(runlog_bin())
        .args([
            "--tracking-uri",
            uri,
            "history",
            "info",
            "-r",
            &run_id,
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        info.status.success(),
        "{}",
        String::from_utf8_lossy(&info.stderr)
    );
    let info = String::from_utf8_lossy(&info.stdout).into_owned();
    let doc: serde_json::Value = serde_json::from_str(&info).expect("info -o json");
    let server_id = doc["run"]["run_id"].as_str().unwrap().to_string();
    Job {
        code: out.status.code(),
        out: format!("{text}\n{info}"),
        run_id,
        server_id,
    }
}

/// Runs the job against a fresh `runlog serve`; returns it and the served store.
fn run_job_on_serve(name: &str, fail_rank: i32) -> (Job, PathBuf) {
    let store = scratch_dir(&format!("{name}-server")).join("store");
    let (_serve, uri) = start_serve(&store);
    (run_job(name, fail_rank, &uri, true), store)
}

fn db(store: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(store.join("history.sqlite")).unwrap();
    runlog_uploader::store::series::create_points_table(&conn).unwrap();
    conn
}

/// (name, values in step order) of every series of the run.
fn series(conn: &rusqlite::Connection, run_id: &str) -> Vec<(String, Vec<(i64, f64)>)> {
    let mut names: Vec<String> = conn
        .prepare(
            "SELECT s.name FROM series s JOIN runs r ON r.id = s.run WHERE r.run_id = ?1
             ORDER BY s.name",
        )
        .unwrap()
        .query_map([run_id], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    names.dedup();
    names
        .into_iter()
        .map(|n| {
            let pts = conn
                .prepare(
                    "SELECT v.step, v.value FROM metric_values v JOIN series s ON s.id = v.series
                     JOIN runs r ON r.id = s.run WHERE r.run_id = ?1 AND s.name = ?2
                     ORDER BY v.idx",
                )
                .unwrap()
                .query_map([run_id, n.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            (n, pts)
        })
        .collect()
}

fn check_series(conn: &rusqlite::Connection, run_id: &str, out: &str) {
    let all = series(conn, run_id);
    let get = |name: &str| {
        all.iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| {
                panic!(
                    "no series {name}: {:?}\n{out}",
                    all.iter().map(|s| &s.0).collect::<Vec<_>>()
                )
            })
    };
    for rank in 0..4 {
        let name = if rank == 0 {
            "loss".to_string()
        } else {
            format!("loss/rank{rank}")
        };
        let pts = get(&name);
        let want: Vec<(i64, f64)> = (0..STEPS)
            .map(|s| (s, 1000.0 * rank as f64 + 1.0 / (s + 1) as f64))
            .collect();
        assert_eq!(
            pts, want,
            "{name}: complete, in order, this rank's values only"
        );
        let mean = get(&if rank == 0 {
            "loss_mean".to_string()
        } else {
            format!("loss_mean/rank{rank}")
        });
        assert_eq!(mean.len(), STEPS as usize, "loss_mean of rank {rank}");
    }
    // Per-node system metrics, of every rank's wrapper.
    for (node, ranks) in [("nodeA", [0, 1]), ("nodeB", [2, 3])] {
        for rank in ranks {
            let suffix = if rank == 0 {
                String::new()
            } else {
                format!("/rank{rank}")
            };
            for metric in [
                "process_cpu_utilization_percentage",
                "process_memory_rss_megabytes",
                "system_memory_usage_megabytes",
            ] {
                let pts = get(&format!("system/{node}/{metric}{suffix}"));
                assert!(!pts.is_empty(), "system/{node}/{metric}{suffix}");
            }
            let rss = get(&format!(
                "system/{node}/process_memory_rss_megabytes{suffix}"
            ));
            assert!(
                rss.iter().any(|(_, v)| *v > 0.5),
                "a real process's RSS: {rss:?}"
            );
        }
    }
    // No GPU here: no GPU series, and nothing else missing (the absent-NVML path).
    if !Path::new("/proc/driver/nvidia").exists() {
        assert!(
            !all.iter().any(|(n, _)| n.contains("/gpu")),
            "no NVML, no GPU series"
        );
    }
}

#[test]
fn four_ranks_on_two_nodes_make_one_finished_run() {
    if !have_mpi() {
        return;
    }
    let (job, store) = run_job_on_serve("mpi-ranks-ok", -1);
    let (code, out, run_id) = (job.code, job.out, job.server_id);
    assert_eq!(code, Some(0), "{out}");
    let conn = db(&store);
    let (runs, status): (i64, String) = conn
        .query_row("SELECT COUNT(*), MAX(status) FROM runs", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((runs, status.as_str()), (1, "FINISHED"), "one run: {out}");
    check_series(&conn, &run_id, &out);
    for rank in 0..4 {
        let node = if rank < 2 { "nodeA" } else { "nodeB" };
        let tag = format!("\"runlog.rank.{rank}\": \"FINISHED exit 0 on {node}\"");
        assert!(out.contains(&tag), "history info shows {tag}:\n{out}");
    }
}

#[test]
fn a_rank_that_exits_3_fails_the_run_and_is_named() {
    if !have_mpi() {
        return;
    }
    // mpirun's own exit code is 0 here: told not to abort the job when a
    // rank fails, Open MPI 4.1 does not report it either. The run does.
    let (job, store) = run_job_on_serve("mpi-ranks-fail", 2);
    let (out, run_id) = (job.out, job.server_id);
    let conn = db(&store);
    let (runs, status): (i64, String) = conn
        .query_row("SELECT COUNT(*), MAX(status) FROM runs", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((runs, status.as_str()), (1, "FAILED"), "{out}");
    assert!(
        out.contains("\"runlog.rank.2\": \"FAILED exit 3 on nodeB\""),
        "history info names rank 2, its node and exit status:\n{out}"
    );
    assert!(out.contains("\"status\": \"FAILED\""), "{out}");
    // Everything every rank logged is there, the failed rank's included.
    check_series(&conn, &run_id, &out);
}

/// The rank's `loss` values a rank of `mpi_train.c` logs, by step.
fn want_loss(rank: i64) -> String {
    (0..STEPS)
        .map(|s| format!("{s},{}", 1000.0 * rank as f64 + 1.0 / (s + 1) as f64))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn four_ranks_on_two_nodes_make_one_run_in_mlflow_on_postgres() {
    if !have_mpi() {
        return;
    }
    let Some((uri, dsn)) = pg_server() else {
        return;
    };
    for (name, fail_rank, want) in [("mpi-pg-ok", -1, "FINISHED"), ("mpi-pg-fail", 2, "FAILED")] {
        let job = run_job(name, fail_rank, &uri, false);
        let out = &job.out;
        // One MLflow run (deleted duplicates aside), named after the runlog run id.
        let runs = psql(
            &dsn,
            &format!(
                "SELECT run_uuid, status FROM runs WHERE name = '{}' AND lifecycle_stage = 'active'",
                job.run_id
            ),
        );
        let (id, status) = runs
            .split_once(',')
            .unwrap_or_else(|| panic!("no active run: {runs}\n{out}"));
        assert!(!status.contains('\n'), "one active run: {runs}\n{out}");
        assert_eq!(status, want, "{out}");
        for rank in 0..4i64 {
            let key = if rank == 0 {
                "loss".to_string()
            } else {
                format!("loss/rank{rank}")
            };
            // Every point once, in order, with only this rank's values.
            let got = psql(
                &dsn,
                &format!(
                    "SELECT step, value FROM metrics WHERE run_uuid = '{id}' AND key = '{key}' \
                     ORDER BY step, timestamp"
                ),
            );
            let got: Vec<(i64, f64)> = got
                .lines()
                .map(|l| {
                    let (s, v) = l.split_once(',').unwrap();
                    (s.parse().unwrap(), v.parse().unwrap())
                })
                .collect();
            let want_pts: Vec<(i64, f64)> = want_loss(rank)
                .lines()
                .map(|l| {
                    let (s, v) = l.split_once(',').unwrap();
                    (s.parse().unwrap(), v.parse().unwrap())
                })
                .collect();
            assert_eq!(got, want_pts, "{key} of run {id}:\n{out}");
        }
        // Each node kept its own sync tag; no `runlog.stream.*` bookkeeping.
        let tags = psql(
            &dsn,
            &format!(
                "SELECT key FROM tags WHERE run_uuid = '{id}' AND key LIKE 'runlog.%' ORDER BY key"
            ),
        );
        let tags: Vec<&str> = tags.lines().collect();
        assert_eq!(
            tags,
            [
                "runlog.rank.0",
                "runlog.rank.1",
                "runlog.rank.2",
                "runlog.rank.3",
                "runlog.sync.nodeA",
                "runlog.sync.nodeB"
            ],
            "{out}"
        );
        if fail_rank == 2 {
            let tag = psql(
                &dsn,
                &format!(
                    "SELECT value FROM tags WHERE run_uuid = '{id}' AND key = 'runlog.rank.2'"
                ),
            );
            assert_eq!(tag, "FAILED exit 3 on nodeB");
        }
    }
}

/// One `runlog run` around `mpirun -n 4` on one node (as a user runs a job
/// on one machine): the ranks are the program's children, not runlog's, so
/// what runlog sees of each is its ring. Returns (runlog run's exit code,
/// its stderr, the store, the run id).
fn run_wrapped(name: &str, fail_rank: i32, die: bool) -> (Option<i32>, String, PathBuf, String) {
    let root = scratch_dir(name);
    let exe = build_program(&root);
    let store = root.join("store");
    let mut cmd = Command::new("timeout");
    cmd.arg("180")
        .arg(runlog_bin())
        .arg("--tracking-uri")
        .arg(&store)
        .args(["run", "--experiment", "mpi", "--no-system-metrics", "--"])
        .args(["mpirun", "-n", "4", "--oversubscribe"]);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        cmd.arg("--allow-run-as-root");
    }
    cmd.arg(&exe)
        .args([STEPS.to_string(), fail_rank.to_string()]);
    if die {
        cmd.arg("die");
    }
    let out = cmd
        .current_dir(&root)
        .env("RUNLOG_NODE", "nodeA")
        .env_remove("RUNLOG_RUN_ID")
        .env_remove("RUNLOG_RANK")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let run_id = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    (out.status.code(), stderr, store, run_id)
}

fn history(store: &Path, args: &[&str]) -> String {
    let out = Command::new(runlog_bin())
        .arg("--tracking-uri")
        .arg(store)
        .arg("history")
        .args(args)
        .env("COLUMNS", "120")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "history {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn one_runlog_run_around_mpirun_keeps_each_ranks_end_and_charts_a_line_per_rank() {
    if !have_mpi() {
        return;
    }
    let (code, err, store, run_id) = run_wrapped("mpi-wrapped-ok", -1, false);
    assert_eq!(code, Some(0), "{err}");
    let info: serde_json::Value =
        serde_json::from_str(&history(&store, &["info", "-r", &run_id, "-o", "json"])).unwrap();
    assert_eq!(info["run"]["status"], "FINISHED", "{info}\n{err}");
    for rank in 0..4 {
        assert_eq!(
            info["run"]["tags"][format!("runlog.rank.{rank}")],
            "FINISHED closed its logger on nodeA",
            "{info}"
        );
    }
    // The JSON names each series' logged name and rank.
    let metrics = info["metrics"].as_array().unwrap();
    let loss: Vec<(&str, u64)> = metrics
        .iter()
        .filter(|m| m["logged_name"] == "loss")
        .map(|m| (m["name"].as_str().unwrap(), m["rank"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        loss,
        [
            ("loss", 0),
            ("loss/rank1", 1),
            ("loss/rank2", 2),
            ("loss/rank3", 3)
        ]
    );
    // The table groups the ranks under `loss`, with a RANK column, and the
    // terminal chart of loss says it has a line per rank.
    let text = history(&store, &["info", "-r", &run_id]);
    assert!(text.contains("NAME       RANK"), "{text}");
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("loss ") && !l.contains('('))
        .collect();
    assert_eq!(rows.len(), 4, "{text}");
    assert!(
        text.contains("loss (ranks 0, 1, 2, 3: one line each, 160 points, x = step)"),
        "{text}"
    );
    // --chart: one panel for loss with 4 lines and a legend naming the ranks.
    let svg_path = store.parent().unwrap().join("ranks.svg");
    history(
        &store,
        &["info", "-r", &run_id, "--chart", svg_path.to_str().unwrap()],
    );
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let lines = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .filter(|n| {
            n.attribute("points")
                .unwrap_or("")
                .split_whitespace()
                .count()
                >= STEPS as usize
        })
        .count();
    assert_eq!(lines, 8, "loss and loss_mean: 4 lines each");
    let texts: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    assert!(texts.contains(&"loss (4 ranks, 160 points)"), "{texts:?}");
    for rank in 0..4 {
        let label = format!("rank {rank}");
        assert_eq!(
            texts.iter().filter(|t| **t == label).count(),
            2,
            "{label} in each panel's legend: {texts:?}"
        );
    }
}

#[test]
fn one_runlog_run_around_mpirun_names_the_rank_that_died_and_its_node() {
    if !have_mpi() {
        return;
    }
    let (code, err, store, run_id) = run_wrapped("mpi-wrapped-die", 2, true);
    assert_ne!(code, Some(0), "{err}");
    assert!(
        err.contains("FAILED (rank 2 FAILED ended without closing its logger on nodeA)"),
        "runlog run says which rank:\n{err}"
    );
    let info: serde_json::Value =
        serde_json::from_str(&history(&store, &["info", "-r", &run_id, "-o", "json"])).unwrap();
    assert_eq!(info["run"]["status"], "FAILED", "{info}\n{err}");
    let tags = &info["run"]["tags"];
    assert_eq!(
        tags["runlog.rank.2"], "FAILED ended without closing its logger on nodeA",
        "{info}"
    );
    for rank in [0, 1, 3] {
        assert_eq!(
            tags[format!("runlog.rank.{rank}")],
            "FINISHED closed its logger on nodeA",
            "{info}"
        );
    }
    // Everything rank 2 logged before it died is there.
    let metrics = info["metrics"].as_array().unwrap();
    let rank2 = metrics.iter().find(|m| m["name"] == "loss/rank2").unwrap();
    assert_eq!(rank2["count"], STEPS, "{rank2}");
    let text = history(&store, &["info", "-r", &run_id]);
    assert!(
        text.contains("runlog.rank.2  FAILED ended without closing its logger on nodeA"),
        "{text}"
    );
}
