//! `runlog run`: run a program as a new run.
//!
//! Creates the run, starts the program with RUNLOG_RUN_ID, RUNLOG_SPOOL and
//! RUNLOG_EXPERIMENT, drains the run's ring files while it runs and until its
//! writers are done, uploads the outputs folder, records how the program
//! ended, prints the run id and exits with the program's exit code.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use anyhow::{Context, Result};
use runlog_core::RunStatus;

use super::outputs::{upload_outputs, Snapshot};
use super::{open_sink, spool_dir, Tracking};
use crate::cli::RunArgs;
use crate::drain::{Limits, SpoolDrainer, IDLE_SLEEP};
use crate::signals;
use crate::sink::{Batch, Item, RunRef, Sink};
use crate::store::{create_private_dir, now_ms, status_str};

pub use super::outputs::OUTPUTS_PREFIX;

/// The command line as one string, quoting arguments a shell would split.
pub fn command_line(args: &[String]) -> String {
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

/// Runs `runlog run`; returns the exit code. With an MLflow tracking URI the
/// run is recorded locally and delivered in the background (offline first,
/// `delivery`). One rank of a multi-rank job (a launcher or `RUNLOG_RANK`
/// gave it a rank) is delivered the same way, as its node's share of the
/// run; its run's status is settled where every node's ranks meet, on the
/// server (docs/ranks.md).
pub fn run(args: RunArgs, tracking: &Tracking) -> Result<i32> {
    let launch = runlog_core::launch::detect().map_err(anyhow::Error::msg)?;
    let job = launch.rank.map(|rank| super::delivery::Job {
        rank,
        node: if launch.node.is_empty() {
            "unknown".into()
        } else {
            launch.node.clone()
        },
        world_size: launch.world_size,
    });
    let (local, deliver_to) = super::delivery::local_first(tracking);
    let mut background = None;
    let mut run_id = String::new();
    let code = run_recorded(args, &local, &mut |id| {
        run_id = id.to_string();
        background = deliver_to
            .as_deref()
            .map(|uri| super::delivery::start(&super::store_dir(&local), uri, &[id], job.clone()));
    })?;
    if let Some(b) = background {
        if let (Some((status, why)), _) = b.finish() {
            eprintln!("runlog: run {run_id} {} ({why})", status_str(status));
        }
    }
    Ok(code)
}

/// Runs the program as a run recorded at `tracking`; `started` learns the
/// run id once the run exists there.
fn run_recorded(args: RunArgs, tracking: &Tracking, started: &mut dyn FnMut(&str)) -> Result<i32> {
    let mut sink = open_sink(tracking)?;
    let sink = sink.as_mut();
    // The rank this `runlog run` wraps (if its launcher gave one), and its node.
    let launch = runlog_core::launch::detect().map_err(anyhow::Error::msg)?;
    let run = RunRef {
        run_id: crate::ranks::run_id()?,
        experiment: args.experiment.clone(),
    };
    let mut start = Batch::new(run.clone());
    start.items.push(Item::RunStart {
        time_ms: Some(now_ms()),
        command: Some(command_line(&args.command)),
    });
    sink.commit(&start)?;
    started(&run.run_id);

    let spool = std::path::absolute(spool_dir(tracking))?;
    create_private_dir(&spool)
        .with_context(|| format!("cannot create the spool directory {}", spool.display()))?;
    // Before the program starts: the drainer tells its writers at once that
    // an uploader is coming, so a program that closes its logger right away
    // waits for the first heartbeat instead of answering TIMEOUT.
    let mut drainer = SpoolDrainer::new(&spool, Some(run.run_id.clone()), Limits::default());
    signals::install();
    // Files already in the outputs folder are not this run's outputs unless it changes them.
    let outputs_before = Snapshot::take(&args.outputs);
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
    let sampler = (!args.no_system_metrics).then(|| {
        crate::sysmetrics::Sampler::start(
            crate::sysmetrics::Target {
                root: child.id(),
                node: launch.node.clone(),
                rank: launch.rank,
                cuda_visible: std::env::var("CUDA_VISIBLE_DEVICES").ok(),
            },
            Duration::from_secs_f64(args.system_metrics_interval),
        )
    });

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
        if let Some(s) = &sampler {
            crate::sysmetrics::commit(sink, &run, s.take());
        }
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
    if let Some(s) = sampler {
        crate::sysmetrics::commit(sink, &run, s.stop());
    }
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
        match launch.rank {
            Some(rank) => {
                let exit = format!("signal {sig} to runlog run");
                let ended = (RunStatus::Killed, exit.as_str(), 128 + sig);
                end_rank(sink, tracking, &run, &launch, rank, ended)?;
            }
            None => end_run(sink, &run, RunStatus::Killed, status.code())?,
        }
        println!("{}", run.run_id);
        return Ok(128 + sig);
    }

    upload_outputs(sink, &run, &args.outputs, &outputs_before)?;

    let (mut status_kind, mut code) = match (status.code(), status.signal()) {
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
    if let Some(rank) = launch.rank {
        let exit = match status.signal() {
            Some(sig) if status.code().is_none() => format!("signal {sig}"),
            _ => format!("exit {code}"),
        };
        end_rank(
            sink,
            tracking,
            &run,
            &launch,
            rank,
            (status_kind, &exit, code),
        )?;
    } else {
        // Ranks this run's program started (mpirun, torchrun): their rings say how they ended.
        let seen = drainer.seen_ranks(&run.run_id);
        if seen.is_empty() {
            end_run(sink, &run, status_kind, Some(code))?;
        } else {
            let (s, c, why) = crate::ranks::end_seen_ranks(sink, &run, &seen, (status_kind, code))?;
            (status_kind, code) = (s, c);
            eprintln!("runlog: run {} {} ({why})", run.run_id, status_str(s));
        }
    }
    eprintln!(
        "runlog: {}run {} {} (exit code {code}){}",
        launch
            .rank
            .map(|r| format!("rank {r} of "))
            .unwrap_or_default(),
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

/// Records how this rank ended and settles the run if every rank is known
/// ([`crate::ranks::end_rank`]); says so on standard error.
fn end_rank(
    sink: &mut dyn Sink,
    tracking: &Tracking,
    run: &RunRef,
    launch: &runlog_core::launch::Launch,
    rank: u32,
    ended: (RunStatus, &str, i32),
) -> Result<()> {
    let history = super::history::open_source(tracking)?;
    match crate::ranks::end_rank(sink, history.as_ref(), run, launch, rank, ended)? {
        Some((status, why)) => {
            eprintln!("runlog: run {} {} ({why})", run.run_id, status_str(status))
        }
        None => eprintln!(
            "runlog: rank {rank} of run {} ended; the run goes on until every rank has ended",
            run.run_id
        ),
    }
    Ok(())
}

fn end_run(sink: &mut dyn Sink, run: &RunRef, status: RunStatus, code: Option<i32>) -> Result<()> {
    let mut end = Batch::new(run.clone());
    end.items.push(Item::RunEnd {
        status,
        time_ms: Some(now_ms()),
        exit_code: code,
    });
    sink.commit(&end)
}
