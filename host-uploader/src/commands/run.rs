//! `runlog run`: run a program as a new run.
//!
//! Creates the run, starts the program with RUNLOG_RUN_ID, RUNLOG_SPOOL and
//! RUNLOG_EXPERIMENT, drains the run's ring files while it runs and until its
//! writers are done, uploads the outputs folder, records how the program
//! ended, prints the run id and exits with the program's exit code.

use std::io::IsTerminal;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use runlog_core::RunStatus;

use super::{open_sink, spool_dir, Tracking};
use crate::cli::RunArgs;
use crate::drain::{new_run_id, Limits, SpoolDrainer, IDLE_SLEEP};
use crate::signals;
use crate::sink::{ArtifactContent, ArtifactItem, Batch, Item, RunRef, Sink};
use crate::store::{create_private_dir, files_under, now_ms, status_str};

/// Prefix of the artifact paths of files uploaded from the outputs folder.
pub const OUTPUTS_PREFIX: &str = "outputs";

/// The command line as one string, quoting arguments a shell would split.
fn command_line(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `runlog run`; returns the exit code.
pub fn run(args: RunArgs, tracking: &Tracking) -> Result<i32> {
    let mut sink = open_sink(tracking)?;
    let sink = sink.as_mut();
    let run = RunRef {
        run_id: new_run_id(),
        experiment: args.experiment.clone(),
    };
    let mut start = Batch::new(run.clone());
    start.items.push(Item::RunStart {
        time_ms: Some(now_ms()),
        command: Some(command_line(&args.command)),
    });
    sink.commit(&start)?;

    let spool = std::path::absolute(spool_dir(tracking))?;
    create_private_dir(&spool)
        .with_context(|| format!("cannot create the spool directory {}", spool.display()))?;
    // Before the program starts: the drainer tells its writers at once that
    // an uploader is coming, so a program that closes its logger right away
    // waits for the first heartbeat instead of answering TIMEOUT.
    let mut drainer = SpoolDrainer::new(&spool, Some(run.run_id.clone()), Limits::default());
    signals::install();
    let spawned = Command::new(&args.command[0])
        .args(&args.command[1..])
        .env("RUNLOG_RUN_ID", &run.run_id)
        .env("RUNLOG_SPOOL", &spool)
        .env("RUNLOG_EXPERIMENT", &run.experiment)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            end_run(sink, &run, RunStatus::Failed, Some(127))?;
            eprintln!("runlog: cannot start {:?}: {e}", args.command[0]);
            println!("{}", run.run_id);
            return Ok(127);
        }
    };
    eprintln!("runlog: run {} started ({})", run.run_id, args.command[0]);

    let mut said = String::new();
    let mut pass = |drainer: &mut SpoolDrainer, sink: &mut dyn Sink| -> u64 {
        match drainer.pass(sink) {
            Ok(s) => {
                said.clear();
                s.records
            }
            Err(e) => {
                // Nothing is lost: the records stay in the ring until the store takes them.
                let msg = format!("{e:#}");
                if msg != said {
                    eprintln!("runlog: {msg}; retrying");
                    said = msg;
                }
                std::thread::sleep(Duration::from_millis(500));
                0
            }
        }
    };
    let status: ExitStatus = loop {
        if let Some(sig) = signals::take_forward() {
            // SAFETY: kill has no memory-safety preconditions; the pid is our live child's.
            unsafe { libc::kill(child.id() as libc::pid_t, sig) };
        }
        let n = pass(&mut drainer, sink);
        if let Some(status) = child.try_wait().context("cannot wait for the program")? {
            break status;
        }
        if n == 0 {
            std::thread::sleep(IDLE_SLEEP);
        }
    };
    // The program is gone: drain its rings until their writers are all done
    // (closed, or dead), including any it left to children still running. A
    // damaged ring is given up by the drainer (at once, or once it has been
    // written for a while after its writer was gone), so this ends; SIGINT
    // and SIGTERM end it sooner, leaving what is not drained in the spool
    // for a later `runlog drain`.
    // A signal the program also got (Ctrl-C) ended it; only one that comes
    // during this wait ends the wait.
    let _ = signals::take_received();
    let _ = drainer.scan_now();
    let mut interrupted = None;
    loop {
        if let Some(sig) = signals::received() {
            interrupted = Some(sig);
            break;
        }
        let n = pass(&mut drainer, sink);
        if drainer.attached() == 0 {
            let _ = drainer.scan_now();
            if drainer.attached() == 0 {
                break;
            }
        }
        if n == 0 {
            std::thread::sleep(IDLE_SLEEP);
        }
    }
    if let Some(sig) = interrupted {
        eprintln!(
            "runlog: interrupted while draining the run's rings; {} ring file(s) left in {} for \
             `runlog drain`",
            drainer.attached(),
            spool.display()
        );
        end_run(sink, &run, RunStatus::Killed, status.code())?;
        println!("{}", run.run_id);
        return Ok(128 + sig);
    }

    upload_outputs(sink, &run, &args.outputs)?;

    let (mut status_kind, code) = match (status.code(), status.signal()) {
        (Some(0), _) => (RunStatus::Finished, 0),
        (Some(c), _) => (RunStatus::Failed, c),
        (None, Some(sig)) => (RunStatus::Killed, 128 + sig),
        (None, None) => (RunStatus::Failed, 1),
    };
    // Records lost to a damaged ring: the run is not a success, and neither is `runlog run`.
    let damaged = drainer.run_damaged(&run.run_id);
    if damaged && status_kind == RunStatus::Finished {
        status_kind = RunStatus::Failed;
    }
    end_run(sink, &run, status_kind, Some(code))?;
    eprintln!(
        "runlog: run {} {} (exit code {code}){}",
        run.run_id,
        status_str(status_kind),
        if damaged {
            "; records were lost to a damaged ring (see the warnings above)"
        } else {
            ""
        }
    );
    println!("{}", run.run_id);
    Ok(if damaged && code == 0 {
        DAMAGED_EXIT
    } else {
        code
    })
}

/// Exit code of `runlog run` when the program succeeded but records of its
/// run were lost to a damaged ring.
pub const DAMAGED_EXIT: i32 = 3;

fn end_run(sink: &mut dyn Sink, run: &RunRef, status: RunStatus, code: Option<i32>) -> Result<()> {
    let mut end = Batch::new(run.clone());
    end.items.push(Item::RunEnd {
        status,
        time_ms: Some(now_ms()),
        exit_code: code,
    });
    sink.commit(&end)
}

/// Uploads every file under `dir` as `outputs/<relative path>`, one at a time,
/// streamed; shows a progress bar when standard error is a terminal.
fn upload_outputs(sink: &mut dyn Sink, run: &RunRef, dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    let files = files_under(dir)?;
    let sizes: Vec<u64> = files
        .iter()
        .map(|(_, p)| p.metadata().map(|m| m.len()).unwrap_or(0))
        .collect();
    let total: u64 = sizes.iter().sum();
    let bar = if std::io::stderr().is_terminal() && !files.is_empty() {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "uploading outputs {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut done = 0u64;
    let mut failed = 0usize;
    for ((rel, path), size) in files.iter().zip(&sizes) {
        bar.set_message(rel.clone());
        let mut batch = Batch::new(run.clone());
        batch.items.push(Item::Artifact(ArtifactItem {
            path: format!("{OUTPUTS_PREFIX}/{rel}"),
            content: ArtifactContent::File {
                path: path.clone(),
                len: *size,
            },
        }));
        let base = done;
        if let Err(e) = sink.commit_with_progress(&batch, &mut |n| bar.set_position(base + n)) {
            bar.suspend(|| eprintln!("runlog: cannot upload {}: {e:#}", path.display()));
            failed += 1;
        }
        done += size;
        bar.set_position(done);
    }
    bar.finish_and_clear();
    if failed != 0 {
        eprintln!(
            "runlog: {failed} file(s) under {} were not uploaded",
            dir.display()
        );
    }
    Ok(())
}
