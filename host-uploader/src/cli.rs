//! The command line, as users type it (see DESIGN.md "Command line").

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// runlog: log metrics and files from C/C++ programs and firmware into a run history.
#[derive(Debug, Parser)]
#[command(name = "runlog", version, about)]
pub struct Cli {
    /// Where the history lives: a directory (the embedded store) or an
    /// http(s):// MLflow tracking server. Default: the nearest `.runlog` in the
    /// working directory or its parents, else `.runlog` in the working directory.
    #[arg(long, global = true, env = "RUNLOG_TRACKING_URI")]
    pub tracking_uri: Option<String>,

    /// Output format for history commands (`csv` is for `history export` only).
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// One JSON document (stable shape, see docs/history.md).
    Json,
    /// Tab-separated values with a header line, for scripts.
    Tsv,
    /// Comma-separated values (RFC 4180) with a header line: `history export` only.
    Csv,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a program as a new run: drain what it logs, upload its outputs, record how it ended.
    Run(RunArgs),
    /// Move records from spool files or a byte stream into the history.
    Drain(DrainArgs),
    /// Query the run history.
    History(HistoryArgs),
    /// Serve the MLflow tracking REST API and a web page over the store.
    Serve(ServeArgs),
    /// Deliver runs recorded in the local store to the MLflow server at --tracking-uri.
    Sync(SyncArgs),
}

/// `runlog sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Runs to deliver (ids or unique prefixes); default: every run in the store.
    pub runs: Vec<String>,
    /// Keep delivering while the runs go on, until every one has ended and is delivered.
    #[arg(long)]
    pub watch: bool,
    /// The local store the runs are in.
    #[arg(long = "from", default_value = ".runlog")]
    pub from: PathBuf,
}

/// `runlog run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Experiment the run belongs to.
    #[arg(long, short = 'e', default_value = "default")]
    pub experiment: String,
    /// Folder whose files are uploaded as artifacts when the program ends.
    #[arg(long, default_value = "outputs")]
    pub outputs: PathBuf,
    /// Seconds between system metrics samples (CPU, memory, GPUs) of the program.
    #[arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = parse_interval)]
    pub system_metrics_interval: f64,
    /// Do not sample system metrics.
    #[arg(long)]
    pub no_system_metrics: bool,
    /// The program and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// `runlog drain`.
#[derive(Debug, Args)]
pub struct DrainArgs {
    /// Spool directory of ring files (default: `<store>/spool`, or `.runlog/spool`).
    #[arg(long)]
    pub spool: Option<PathBuf>,
    /// Serial device to read frames from.
    #[arg(long, conflicts_with_all = ["tcp_listen", "tcp_connect", "input"])]
    pub serial: Option<PathBuf>,
    /// Baud rate of the serial device.
    #[arg(long, default_value_t = 115_200, requires = "serial")]
    pub baud: u32,
    /// Accept TCP connections carrying frames on this address.
    #[arg(long, conflicts_with_all = ["tcp_connect", "input"])]
    pub tcp_listen: Option<String>,
    /// Connect to this TCP address and read frames from it.
    #[arg(long, conflicts_with = "input")]
    pub tcp_connect: Option<String>,
    /// Read frames from a captured byte stream (`-` for standard input).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Drain what is there now, then exit.
    #[arg(long)]
    pub once: bool,
}

/// `runlog history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Which query.
    #[command(subcommand)]
    pub command: HistoryCommand,
}

/// The history queries.
#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// Runs, newest first.
    List {
        /// Only runs of this experiment.
        #[arg(long, short = 'e')]
        experiment: Option<String>,
        /// Only runs with this status (RUNNING, FINISHED, FAILED, KILLED).
        #[arg(long, short = 's')]
        status: Option<String>,
        /// At most this many runs (`-n` is still accepted: `list` has no `--name`).
        #[arg(long, short = 'l', short_alias = 'n')]
        limit: Option<usize>,
    },
    /// The newest run, shown as `info` shows it.
    Last {
        /// Draw the run's charts into this file (.svg or .png).
        #[arg(long)]
        chart: Option<PathBuf>,
    },
    /// A run's metrics and artifacts, or one artifact's content.
    Info {
        /// The run id, or a unique prefix of it.
        #[arg(short = 'r', long = "run")]
        run: String,
        /// Print this artifact's content instead.
        #[arg(short = 'a', long = "artifact")]
        artifact: Option<String>,
        /// With --artifact: write the content to this file instead of standard output.
        #[arg(long, requires = "artifact")]
        out: Option<PathBuf>,
        /// Print every value of this metric with its step and time instead.
        #[arg(short = 'm', long = "metric", conflicts_with_all = ["artifact", "chart"])]
        metric: Option<String>,
        /// Draw the run's charts into this file (.svg or .png).
        #[arg(long)]
        chart: Option<PathBuf>,
    },
    /// Make a new version of a named asset from a run's artifacts under a prefix.
    Promote {
        /// The run id, or a unique prefix of it.
        #[arg(short = 'r', long = "run")]
        run: String,
        /// Artifact path prefix (`-ap` also accepted).
        #[arg(long = "artifact-prefix", visible_alias = "ap")]
        artifact_prefix: String,
        /// The asset's name.
        #[arg(short = 'n', long = "name")]
        name: String,
    },
    /// Named assets and their versions.
    Assets,
    /// Remove promoted-asset blobs no version names, and what failed or
    /// killed promotes left behind (local store only).
    Gc,
    /// Runs side by side: params (differences marked), and the last, min and
    /// max of every metric; `--chart` draws one line per run.
    Compare {
        /// The runs (ids or unique prefixes), as arguments or with `-r`.
        runs: Vec<String>,
        /// A run to compare (repeatable; same as a positional RUN).
        #[arg(short = 'r', long = "run")]
        run: Vec<String>,
        /// Only this metric (repeatable).
        #[arg(short = 'm', long = "metric")]
        metric: Vec<String>,
        /// Draw every shared metric into this file (.svg or .png), one line per run.
        #[arg(long)]
        chart: Option<PathBuf>,
    },
    /// Every point of a run's metrics (step, time, value), streamed: `-o csv|json|tsv`.
    Export {
        /// The run id, or a unique prefix of it.
        #[arg(short = 'r', long = "run")]
        run: String,
        /// Only this metric (repeatable; default: every metric).
        #[arg(short = 'm', long = "metric")]
        metric: Vec<String>,
    },
}

/// `runlog serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to bind (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind.
    #[arg(long, default_value_t = 5000)]
    pub port: u16,
    /// Require `Authorization: Bearer <token>` with the token in this file.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Largest JSON request body accepted, in bytes.
    #[arg(long, default_value_t = 16 << 20)]
    pub max_json_bytes: u64,
    /// Largest artifact upload accepted, in bytes.
    #[arg(long, default_value_t = 1 << 30)]
    pub max_artifact_bytes: u64,
    /// A `Host` name to answer besides loopback ones and the bound address
    /// (repeatable); requests naming any other host are refused.
    #[arg(long)]
    pub allowed_host: Vec<String>,
}

/// What to say when `runlog run PROGRAM` was typed without `--`: the command
/// line to type instead, or `None` when `args` is not such a case.
pub fn missing_dashdash_hint(args: &[String]) -> Option<String> {
    // The subcommand is the first argument that is not a global option.
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--tracking-uri" | "-o" | "--output" => i += 2,
            a if a.starts_with("--tracking-uri=") || a.starts_with("--output=") => i += 1,
            a if a.starts_with("-o") && a.len() > 2 => i += 1,
            _ => break,
        }
    }
    if args.get(i).map(String::as_str) != Some("run") || args.iter().any(|a| a == "--") {
        return None;
    }
    let rest = &args[i + 1..];
    // The program is the first argument that is neither an option of `run` nor its value.
    let mut j = 0;
    while j < rest.len() {
        match rest[j].as_str() {
            "--experiment" | "-e" | "--outputs" => j += 2,
            a if a.starts_with('-') => j += 1,
            _ => break,
        }
    }
    if j >= rest.len() {
        return None;
    }
    let mut fixed: Vec<String> = args[..=i].to_vec();
    fixed[0] = "runlog".into();
    fixed.extend(rest[..j].iter().cloned());
    fixed.push("--".into());
    fixed.extend(rest[j..].iter().cloned());
    Some(format!(
        "put `--` before the program and its arguments, so that runlog does not read them as \
         its own options:\n  {}",
        crate::commands::run::command_line(&fixed)
    ))
}

/// Accepts the original CLI's single-dash `-ap PREFIX` by rewriting it before clap parses.
pub fn normalize_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    args.into_iter()
        .map(|a| {
            if a == "-ap" {
                "--artifact-prefix".to_string()
            } else if let Some(v) = a.strip_prefix("-ap=") {
                format!("--artifact-prefix={v}")
            } else {
                a
            }
        })
        .collect()
}

/// A sampling interval: a finite number of seconds from 0.05 to one day.
fn parse_interval(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(0.05..=86_400.0).contains(&v) {
        return Err(format!("{s} s is outside 0.05..=86400 s"));
    }
    Ok(v)
}
