//! Where a process sits in a multi-process job, and which run a job's
//! processes share: the one rule for both, read from the environment that
//! the launcher set (feature `std`; a device is rank 0 of its own run).
//!
//! - Rank: `RUNLOG_RANK`, else torchrun's `RANK`, Open MPI's
//!   `OMPI_COMM_WORLD_RANK`, MPICH / Intel MPI's `PMI_RANK`, Slurm's
//!   `SLURM_PROCID` (first one set wins). World size and local rank likewise.
//! - Node: `RUNLOG_NODE`, else the host name.
//! - Run id of a job (when `RUNLOG_RUN_ID` is not set): derived from the
//!   launcher's job id, the same on every node without any coordination:
//!   `torchelastic-<TORCHELASTIC_RUN_ID>`, `slurm-<SLURM_JOB_ID>.<SLURM_STEP_ID>`,
//!   `ompi-<OMPI_MCA_ess_base_jobid>`.
//!
//! Environment values are untrusted: a malformed `RUNLOG_*` value is an
//! error naming it; a malformed launcher variable (`RANK` is a common name)
//! is not the launcher's and is skipped.

use std::string::{String, ToString};

use crate::rules::{check_run_id, MAX_RUN_ID_LEN};
use crate::spool::{Placement, MAX_NODE_LEN};

/// Variables that give a process's rank, in the order they are tried.
pub const RANK_VARS: &[&str] = &[
    "RUNLOG_RANK",
    "RANK",
    "OMPI_COMM_WORLD_RANK",
    "PMI_RANK",
    "SLURM_PROCID",
];
/// Variables that give the job's world size, in the order they are tried.
pub const WORLD_SIZE_VARS: &[&str] = &[
    "RUNLOG_WORLD_SIZE",
    "WORLD_SIZE",
    "OMPI_COMM_WORLD_SIZE",
    "PMI_SIZE",
    "SLURM_NTASKS",
];
/// Variables that give a process's rank on its node, in the order they are tried.
pub const LOCAL_RANK_VARS: &[&str] = &[
    "LOCAL_RANK",
    "OMPI_COMM_WORLD_LOCAL_RANK",
    "MPI_LOCALRANKID",
    "SLURM_LOCALID",
];

/// A process's place in its job.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Launch {
    /// Its rank, if a launcher (or `RUNLOG_RANK`) gave one.
    pub rank: Option<u32>,
    /// Its rank on its node, if known.
    pub local_rank: Option<u32>,
    /// The job's number of ranks, if known.
    pub world_size: Option<u32>,
    /// Its node: `RUNLOG_NODE`, else the host name (at most [`MAX_NODE_LEN`] bytes).
    pub node: String,
}

impl Launch {
    /// What a spool header records of it.
    pub fn placement(&self) -> Placement<'_> {
        Placement {
            rank: self.rank,
            world_size: self.world_size,
            node: &self.node,
        }
    }
}

fn number(
    get: &impl Fn(&str) -> Option<String>,
    vars: &[&str],
    what: &str,
) -> Result<Option<u32>, String> {
    for var in vars {
        let Some(v) = get(var) else { continue };
        match v.trim().parse::<u32>() {
            Ok(n) => return Ok(Some(n)),
            Err(_) if var.starts_with("RUNLOG_") => {
                return Err(std::format!(
                    "{var}={v:?} is not a valid {what} (a number from 0 to {})",
                    u32::MAX
                ))
            }
            Err(_) => {}
        }
    }
    Ok(None)
}

/// Cuts `s` to at most `max` bytes at a character boundary.
fn cut(mut s: String, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s
}

/// The host name, from the kernel (empty if it cannot be read).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The placement that `get` (an environment lookup) describes.
pub fn detect_from(get: impl Fn(&str) -> Option<String>) -> Result<Launch, String> {
    let rank = number(&get, RANK_VARS, "rank")?;
    let world_size = number(&get, WORLD_SIZE_VARS, "world size")?;
    let local_rank = number(&get, LOCAL_RANK_VARS, "local rank")?;
    if let (Some(r), Some(w)) = (rank, world_size) {
        if r >= w {
            return Err(std::format!(
                "rank {r} is not below the world size {w} (check {} and {})",
                RANK_VARS.join("/"),
                WORLD_SIZE_VARS.join("/")
            ));
        }
    }
    let node = get("RUNLOG_NODE")
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(host_name);
    if node.chars().any(char::is_control) {
        return Err(std::format!(
            "RUNLOG_NODE={node:?} holds control characters"
        ));
    }
    Ok(Launch {
        rank,
        local_rank,
        world_size,
        node: cut(node, MAX_NODE_LEN),
    })
}

/// This process's placement, from its environment.
pub fn detect() -> Result<Launch, String> {
    detect_from(|k| std::env::var(k).ok())
}

/// `prefix` + `id`, made a valid run id: characters a run id may not hold
/// become `-`, cut to the longest run id; `None` if nothing usable is left.
fn job_id(prefix: &str, id: &str) -> Option<String> {
    let id = id.trim();
    if id.is_empty() {
        return None;
    }
    let clean: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let run_id = cut(std::format!("{prefix}-{clean}"), MAX_RUN_ID_LEN);
    check_run_id(&run_id).is_ok().then_some(run_id)
}

/// The run id a launcher's job id gives (see the module docs), if any.
pub fn job_run_id_from(get: impl Fn(&str) -> Option<String>) -> Option<String> {
    // torchrun's default rendezvous id is "none": the same for every job.
    if let Some(id) = get("TORCHELASTIC_RUN_ID").filter(|v| v.trim() != "none") {
        return job_id("torchelastic", &id);
    }
    if let Some(job) = get("SLURM_JOB_ID") {
        let id = match get("SLURM_STEP_ID") {
            Some(step) => std::format!("{}.{}", job.trim(), step.trim()),
            None => job,
        };
        return job_id("slurm", &id);
    }
    if let Some(job) = get("OMPI_MCA_ess_base_jobid") {
        return job_id("ompi", &job);
    }
    None
}

/// The run this process belongs to, if its environment names one:
/// `RUNLOG_RUN_ID` (as given: callers check it), else the launcher's job.
pub fn run_id_from(get: impl Fn(&str) -> Option<String>) -> Option<String> {
    match get("RUNLOG_RUN_ID").filter(|v| !v.is_empty()) {
        Some(id) => Some(id),
        None => job_run_id_from(get),
    }
}

/// [`run_id_from`] over this process's environment.
pub fn run_id() -> Option<String> {
    run_id_from(|k| std::env::var(k).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    /// Environment pairs, and the (rank, world size, local rank) they give.
    type Case<'a> = (
        &'a [(&'a str, &'a str)],
        Option<u32>,
        Option<u32>,
        Option<u32>,
    );

    #[test]
    fn launchers_rank_world_and_local_rank() {
        let cases: Vec<Case<'_>> = std::vec![
            (&[], None, None, None),
            (
                &[("RANK", "3"), ("WORLD_SIZE", "8"), ("LOCAL_RANK", "1")],
                Some(3),
                Some(8),
                Some(1)
            ),
            (
                &[
                    ("OMPI_COMM_WORLD_RANK", "2"),
                    ("OMPI_COMM_WORLD_SIZE", "4"),
                    ("OMPI_COMM_WORLD_LOCAL_RANK", "0")
                ],
                Some(2),
                Some(4),
                Some(0)
            ),
            (
                &[("PMI_RANK", "5"), ("PMI_SIZE", "6")],
                Some(5),
                Some(6),
                None
            ),
            (
                &[
                    ("SLURM_PROCID", "7"),
                    ("SLURM_NTASKS", "16"),
                    ("SLURM_LOCALID", "3")
                ],
                Some(7),
                Some(16),
                Some(3)
            ),
            // RUNLOG_RANK wins over the launcher's.
            (&[("RUNLOG_RANK", "1"), ("RANK", "0")], Some(1), None, None),
            // A RANK that is not a number is not torchrun's: the next one is used.
            (&[("RANK", "high"), ("PMI_RANK", "4")], Some(4), None, None),
        ];
        for (vars, rank, world, local) in cases {
            let l = detect_from(env(vars)).unwrap();
            assert_eq!(
                (l.rank, l.world_size, l.local_rank),
                (rank, world, local),
                "{vars:?}"
            );
        }
    }

    #[test]
    fn hostile_values_are_clear_errors() {
        for (vars, needle) in [
            (&[("RUNLOG_RANK", "-1")][..], "RUNLOG_RANK=\"-1\""),
            (&[("RUNLOG_RANK", "99999999999")], "RUNLOG_RANK"),
            (&[("RUNLOG_WORLD_SIZE", "two")], "RUNLOG_WORLD_SIZE"),
            (
                &[("RANK", "4"), ("WORLD_SIZE", "4")],
                "rank 4 is not below the world size 4",
            ),
            (&[("RUNLOG_NODE", "a\nb")], "control characters"),
        ] {
            let err = detect_from(env(vars)).unwrap_err();
            assert!(err.contains(needle), "{vars:?}: {err}");
        }
    }

    #[test]
    fn node_is_runlog_node_else_the_host_cut_to_its_field() {
        assert_eq!(
            detect_from(env(&[("RUNLOG_NODE", "nodeB")])).unwrap().node,
            "nodeB"
        );
        assert_eq!(detect_from(env(&[])).unwrap().node, host_name());
        let long = "é".repeat(40);
        let node = detect_from(env(&[("RUNLOG_NODE", &long)])).unwrap().node;
        assert_eq!(node.len(), 64);
        assert!(long.starts_with(&node));
    }

    #[test]
    fn job_run_ids_are_the_same_on_every_node_and_valid() {
        for (vars, want) in [
            (
                &[("TORCHELASTIC_RUN_ID", "job 42")][..],
                Some("torchelastic-job-42"),
            ),
            (&[("TORCHELASTIC_RUN_ID", "none")], None),
            (
                &[("SLURM_JOB_ID", "1234"), ("SLURM_STEP_ID", "0")],
                Some("slurm-1234.0"),
            ),
            (&[("SLURM_JOB_ID", "1234")], Some("slurm-1234")),
            (
                &[("OMPI_MCA_ess_base_jobid", "866516993")],
                Some("ompi-866516993"),
            ),
            (&[("OMPI_MCA_ess_base_jobid", "")], None),
            (&[], None),
        ] {
            assert_eq!(job_run_id_from(env(vars)).as_deref(), want, "{vars:?}");
        }
        let long = "x".repeat(200);
        let id = job_run_id_from(env(&[("SLURM_JOB_ID", &long)])).unwrap();
        assert_eq!(id.len(), MAX_RUN_ID_LEN);
        assert_eq!(check_run_id(&id), Ok(()));
        assert_eq!(
            run_id_from(env(&[("RUNLOG_RUN_ID", "mine"), ("SLURM_JOB_ID", "1")])).as_deref(),
            Some("mine")
        );
    }
}
