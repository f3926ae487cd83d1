//! Ranks in the history: the one rule for how a rank's points are named in
//! every store and on the MLflow wire, and for how the ends of a job's ranks
//! make the run's status (see `docs/ranks.md`).
//!
//! - A point of rank 0 (or of a process with no rank) keeps its name; a point
//!   of rank r > 0 is stored under `<name>/rank<r>`. Every store (SQLite,
//!   `runlog serve`, a real MLflow server) and every reader (the CLI, charts,
//!   the web page, MLflow's UI) thus keeps ranks apart without knowing about
//!   them; MLflow's UI groups `loss` and `loss/rank1` together.
//! - Each rank's end is a run tag `runlog.rank.<r>` = `FINISHED exit 0 on
//!   nodeA` (or `FAILED exit 3 on nodeB`, `KILLED signal 9 on ...`), set by the
//!   `runlog run` that wrapped the rank. The run is FAILED as soon as one rank
//!   failed, FINISHED once all of its world size ended well, else RUNNING.
//! - When one `runlog run` wraps all of a node's ranks (`runlog run -- mpirun
//!   -n 4 prog`), it cannot see each rank's exit status (the ranks are not its
//!   children); what it sees is each rank's ring: closed by its logger, or
//!   left open by a process that is gone ([`SeenRank`], [`end_seen_ranks`]).

use std::collections::BTreeMap;

use anyhow::Result;
use runlog_core::launch::Launch;
use runlog_core::RunStatus;

use crate::history::HistorySource;
use crate::sink::{Batch, Item, RunRef, Sink};
use crate::store::{now_ms, status_str};

/// The run a `runlog run` records into: `RUNLOG_RUN_ID`, else the
/// launcher's job ([`runlog_core::launch::run_id`]: every node's `runlog run`
/// of one job joins one run), else a fresh id.
pub fn run_id() -> Result<String> {
    match runlog_core::launch::run_id() {
        Some(id) => {
            if let Err(e) = runlog_core::rules::check_run_id(&id) {
                anyhow::bail!("run id {id:?} (from RUNLOG_RUN_ID) is not usable: {e}");
            }
            Ok(id)
        }
        None => Ok(runlog_core::host::new_run_id().as_str().to_owned()),
    }
}

/// Prefix of the tags that record each rank's end.
pub const RANK_END_TAG: &str = "runlog.rank.";

/// The name a point of `rank` is stored under (see the module docs).
pub fn series_name(name: &str, rank: Option<u32>) -> String {
    match rank {
        None | Some(0) => name.to_string(),
        Some(r) => format!("{name}/rank{r}"),
    }
}

/// The logged name and rank of a stored series name (the inverse of
/// [`series_name`]; a name without the suffix is rank 0).
pub fn split_series_name(stored: &str) -> (&str, u32) {
    if let Some((name, r)) = stored.rsplit_once("/rank") {
        if !name.is_empty() && !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(rank) = r.parse::<u32>() {
                if rank > 0 && !r.starts_with('0') {
                    return (name, rank);
                }
            }
        }
    }
    (stored, 0)
}

/// One logged name's series, one per rank: what a chart draws as one panel
/// with one line per rank, and what tables group under one name.
#[derive(Debug, Clone, PartialEq)]
pub struct RankGroup<T> {
    /// The name as logged (`loss` for `loss`, `loss/rank1`, ...).
    pub name: String,
    /// Each rank's item, by rank (ascending).
    pub ranks: Vec<(u32, T)>,
}

impl<T> RankGroup<T> {
    /// Whether the group is anything but rank 0 alone: its lines need a
    /// legend naming the ranks.
    pub fn is_ranked(&self) -> bool {
        self.ranks.len() > 1 || self.ranks.iter().any(|(r, _)| *r > 0)
    }
}

/// Groups `items` (each named by its stored series name, `stored(item)`) by
/// logged name: the one place that decides which series are ranks of one
/// metric (by [`split_series_name`]). Groups come sorted by logged name,
/// ranks ascending; an item whose name and rank repeat keeps its order.
/// The CLI's charts and tables and `runlog serve`'s chart endpoint call it.
pub fn group_ranks<T>(
    items: impl IntoIterator<Item = T>,
    stored: impl Fn(&T) -> &str,
) -> Vec<RankGroup<T>> {
    let mut by_name: BTreeMap<String, Vec<(u32, T)>> = BTreeMap::new();
    for item in items {
        let (name, rank) = split_series_name(stored(&item));
        let name = name.to_string();
        by_name.entry(name).or_default().push((rank, item));
    }
    by_name
        .into_iter()
        .map(|(name, mut ranks)| {
            ranks.sort_by_key(|(r, _)| *r);
            RankGroup { name, ranks }
        })
        .collect()
}

/// The legend label of rank `rank`'s line.
pub fn rank_label(rank: u32) -> String {
    format!("rank {rank}")
}

/// How one rank ended, as its tag says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankEnd {
    /// FINISHED, FAILED or KILLED.
    pub status: RunStatus,
    /// The tag's text, e.g. `FAILED exit 3 on nodeB`.
    pub text: String,
}

/// The tag key and value that record how `rank` ended.
pub fn rank_end_tag(launch: &Launch, rank: u32, status: RunStatus, exit: &str) -> (String, String) {
    let node = if launch.node.is_empty() {
        "an unknown node"
    } else {
        &launch.node
    };
    (
        format!("{RANK_END_TAG}{rank}"),
        format!("{} {exit} on {node}", status_str(status)),
    )
}

/// The rank ends among a run's tags, by rank.
pub fn rank_ends(tags: &BTreeMap<String, String>) -> BTreeMap<u32, RankEnd> {
    tags.iter()
        .filter_map(|(k, v)| {
            let rank = k.strip_prefix(RANK_END_TAG)?.parse::<u32>().ok()?;
            let status = match v.split(' ').next()? {
                "FINISHED" => RunStatus::Finished,
                "FAILED" => RunStatus::Failed,
                "KILLED" => RunStatus::Killed,
                _ => return None,
            };
            Some((
                rank,
                RankEnd {
                    status,
                    text: v.clone(),
                },
            ))
        })
        .collect()
}

/// The run's status from its ranks' ends: FAILED (naming the first rank that
/// did not end well) as soon as one did not, FINISHED when `world_size`
/// ranks ended well (or the one rank, when the world size is unknown), else
/// `None`: ranks are still running.
pub fn settle(
    world_size: Option<u32>,
    ends: &BTreeMap<u32, RankEnd>,
) -> Option<(RunStatus, String)> {
    // A rank that failed is named before one that was killed (when a rank
    // fails, launchers often kill the others).
    let failed = ends.iter().find(|(_, e)| e.status == RunStatus::Failed);
    let first_bad = failed.or_else(|| ends.iter().find(|(_, e)| e.status != RunStatus::Finished));
    if let Some((rank, end)) = first_bad {
        return Some((RunStatus::Failed, format!("rank {rank} {}", end.text)));
    }
    let want = world_size.unwrap_or(1) as usize;
    (ends.len() >= want).then(|| {
        (
            RunStatus::Finished,
            format!("{} rank(s) ended well", ends.len()),
        )
    })
}

/// How a rank's ring ended, as the drain saw it once the ring's writer was
/// gone and everything in it was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RingEnd {
    /// Its logger was closed (`runlog_close`, or the exit hook of a process
    /// that returned from `main` or called `exit`).
    Closed,
    /// Its process is gone and never closed the logger: it died (a signal,
    /// `_exit`, `MPI_Abort`, a crash).
    NotClosed,
    /// Records of it were lost to damage.
    Damaged,
}

/// One rank, as its rings were seen by one `runlog run`'s drain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRank {
    /// Its node, from its spool header (empty if unknown).
    pub node: String,
    /// The worst end of its rings.
    pub end: RingEnd,
}

impl SeenRank {
    /// Adds another ring of the same rank: the worse end wins.
    pub fn merge(&mut self, node: &str, end: RingEnd) {
        if end > self.end {
            self.end = end;
            if !node.is_empty() {
                self.node = node.to_string();
            }
        }
    }

    /// The tag value that records it (`FINISHED closed its logger on nodeA`).
    pub fn tag_value(&self) -> String {
        let node = if self.node.is_empty() {
            "an unknown node"
        } else {
            &self.node
        };
        let what = match self.end {
            RingEnd::Closed => "FINISHED closed its logger",
            RingEnd::NotClosed => "FAILED ended without closing its logger",
            RingEnd::Damaged => "FAILED lost records to a damaged ring",
        };
        format!("{what} on {node}")
    }
}

/// Ends a run whose program (`mpirun`, `torchrun` on one node...) ran ranks
/// that this `runlog run` saw only through their rings: records each rank's
/// end as its `runlog.rank.<r>` tag, then the run's end. FAILED, naming the
/// rank, when a rank did not close its logger (or lost records), whatever the
/// program's exit; else the program's own status (a launcher that exits
/// non-zero when every rank closed its logger failed in a way no ring shows).
/// Returns the status, the exit code `runlog run` should give (the program's,
/// or 1 when only a ring shows the failure) and why.
pub fn end_seen_ranks(
    sink: &mut dyn Sink,
    run: &RunRef,
    seen: &BTreeMap<u32, SeenRank>,
    (program, code): (RunStatus, i32),
) -> Result<(RunStatus, i32, String)> {
    let mut batch = Batch::new(run.clone());
    let mut tags = BTreeMap::new();
    for (rank, s) in seen {
        let (key, value) = (format!("{RANK_END_TAG}{rank}"), s.tag_value());
        tags.insert(key.clone(), value.clone());
        batch.items.push(Item::Tag { key, value });
    }
    let ends = rank_ends(&tags);
    let (status, code, why) = match settle(Some(ends.len() as u32), &ends) {
        Some((RunStatus::Failed, why)) => {
            (RunStatus::Failed, if code == 0 { 1 } else { code }, why)
        }
        _ if program != RunStatus::Finished => (
            program,
            code,
            format!(
                "the program ended with exit code {code}; every rank seen ({}) closed its logger",
                ends.len()
            ),
        ),
        _ => (
            RunStatus::Finished,
            code,
            format!("{} rank(s) closed their loggers", ends.len()),
        ),
    };
    batch.items.push(Item::RunEnd {
        status,
        time_ms: Some(now_ms()),
        exit_code: Some(code),
    });
    sink.commit(&batch)?;
    Ok((status, code, why))
}

/// Records how this `runlog run`'s rank ended, then ends the run if the
/// ranks' ends settle it ([`settle`]). Returns the run's status if it was
/// set, with the reason. The tag is committed before the other ranks' ends
/// are read, so of two ranks ending at once the later reader sees both.
pub fn end_rank(
    sink: &mut dyn Sink,
    history: &dyn HistorySource,
    run: &RunRef,
    launch: &Launch,
    rank: u32,
    (status, exit, code): (RunStatus, &str, i32),
) -> Result<Option<(RunStatus, String)>> {
    let (key, value) = rank_end_tag(launch, rank, status, exit);
    let mut batch = Batch::new(run.clone());
    batch.items.push(Item::Tag { key, value });
    sink.commit(&batch)?;
    let detail = history.run(&run.run_id)?;
    let ends = rank_ends(&detail.tags);
    let Some((settled, why)) = settle(launch.world_size, &ends) else {
        return Ok(None);
    };
    let mut end = Batch::new(run.clone());
    end.items.push(Item::RunEnd {
        status: settled,
        time_ms: Some(now_ms()),
        exit_code: Some(if settled == RunStatus::Finished {
            0
        } else {
            code.max(1)
        }),
    });
    sink.commit(&end)?;
    Ok(Some((settled, why)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_rank_zero_keeps_the_plain_name() {
        assert_eq!(series_name("loss", None), "loss");
        assert_eq!(series_name("loss", Some(0)), "loss");
        assert_eq!(series_name("loss", Some(3)), "loss/rank3");
        for (stored, want) in [
            ("loss", ("loss", 0)),
            ("loss/rank3", ("loss", 3)),
            ("a/rank1/rank12", ("a/rank1", 12)),
            ("loss/rank", ("loss/rank", 0)),
            ("loss/rank0", ("loss/rank0", 0)),
            ("loss/rank01", ("loss/rank01", 0)),
            ("/rank2", ("/rank2", 0)),
            ("loss/rank99999999999", ("loss/rank99999999999", 0)),
            ("loss/rankx", ("loss/rankx", 0)),
        ] {
            assert_eq!(split_series_name(stored), want, "{stored}");
        }
    }

    #[test]
    fn series_group_under_their_logged_name_ranks_ascending() {
        let names = [
            "loss/rank2",
            "acc",
            "loss",
            "loss/rank10",
            "loss_mean/rank1",
            "loss/rank1",
            "loss/rank01",
        ];
        let groups = group_ranks(names, |n| n);
        let shape: Vec<(String, Vec<(u32, &str)>)> = groups
            .iter()
            .map(|g| (g.name.clone(), g.ranks.clone()))
            .collect();
        assert_eq!(
            shape,
            vec![
                ("acc".to_string(), vec![(0, "acc")]),
                (
                    "loss".to_string(),
                    vec![
                        (0, "loss"),
                        (1, "loss/rank1"),
                        (2, "loss/rank2"),
                        (10, "loss/rank10")
                    ]
                ),
                // Not a rank suffix: a metric of its own.
                ("loss/rank01".to_string(), vec![(0, "loss/rank01")]),
                ("loss_mean".to_string(), vec![(1, "loss_mean/rank1")]),
            ]
        );
        assert!(!groups[0].is_ranked());
        assert!(groups[1].is_ranked());
        assert!(groups[3].is_ranked(), "rank 1 alone still names its rank");
    }

    #[test]
    fn seen_ranks_tag_and_the_worse_ring_end_wins() {
        let mut s = SeenRank {
            node: "nodeA".into(),
            end: RingEnd::Closed,
        };
        assert_eq!(s.tag_value(), "FINISHED closed its logger on nodeA");
        s.merge("nodeA", RingEnd::NotClosed);
        s.merge("nodeA", RingEnd::Closed);
        assert_eq!(s.end, RingEnd::NotClosed);
        assert_eq!(
            s.tag_value(),
            "FAILED ended without closing its logger on nodeA"
        );
        let tags = [("runlog.rank.2".to_string(), s.tag_value())].into();
        let (status, why) = settle(Some(1), &rank_ends(&tags)).unwrap();
        assert_eq!(status, RunStatus::Failed);
        assert_eq!(
            why,
            "rank 2 FAILED ended without closing its logger on nodeA"
        );
        s.node.clear();
        assert!(s.tag_value().ends_with("on an unknown node"));
    }

    fn ends(list: &[(u32, &str)]) -> BTreeMap<u32, RankEnd> {
        let tags = list
            .iter()
            .map(|(r, v)| (format!("{RANK_END_TAG}{r}"), v.to_string()))
            .chain([("other".to_string(), "x".to_string())])
            .collect();
        rank_ends(&tags)
    }

    #[test]
    fn a_run_is_finished_only_when_every_rank_ended_well() {
        let ok = "FINISHED exit 0 on a";
        assert_eq!(settle(Some(4), &ends(&[(0, ok), (1, ok), (3, ok)])), None);
        assert_eq!(
            settle(Some(4), &ends(&[(0, ok), (1, ok), (2, ok), (3, ok)])).map(|s| s.0),
            Some(RunStatus::Finished)
        );
        let (status, why) =
            settle(Some(4), &ends(&[(0, ok), (2, "FAILED exit 3 on nodeB")])).unwrap();
        assert_eq!(status, RunStatus::Failed);
        assert_eq!(why, "rank 2 FAILED exit 3 on nodeB");
        assert_eq!(
            settle(None, &ends(&[(0, ok)])).map(|s| s.0),
            Some(RunStatus::Finished)
        );
        // A tag that is not a rank end is ignored, not a failure.
        assert!(ends(&[(1, "garbage")]).is_empty());
    }
}
