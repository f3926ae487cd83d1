//! One module per subcommand.

pub mod drain;
pub mod history;
pub mod run;

use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::cli::{Cli, Command};

/// Where the history lives, from `--tracking-uri` / RUNLOG_TRACKING_URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tracking {
    /// The embedded store in this directory.
    Local(PathBuf),
    /// An MLflow tracking server.
    Http(String),
}

impl Tracking {
    /// Interprets a tracking URI; `None` means `.runlog` in the working directory.
    pub fn parse(uri: Option<&str>) -> Result<Self> {
        Ok(match uri {
            None | Some("") => Tracking::Local(PathBuf::from(".runlog")),
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
                Tracking::Http(u.trim_end_matches('/').to_string())
            }
            Some(u) if u.starts_with("file://") => Tracking::Local(PathBuf::from(&u[7..])),
            Some(u) if u.contains("://") => bail!(
                "unsupported tracking URI {u:?}: use a directory, file://DIR, or http(s)://HOST:PORT"
            ),
            Some(u) => Tracking::Local(PathBuf::from(u)),
        })
    }
}

/// Runs the parsed command line; returns the process exit code.
pub fn dispatch(cli: Cli) -> Result<i32> {
    let tracking = Tracking::parse(cli.tracking_uri.as_deref())?;
    match cli.command {
        Command::Run(args) => run::run(args, &tracking),
        Command::Drain(args) => drain::drain(args, &tracking),
        Command::History(args) => history::run(args, &tracking, cli.output),
        Command::Serve(args) => match &tracking {
            Tracking::Local(dir) => crate::serve::serve(dir, &args).map(|()| 0),
            Tracking::Http(url) => {
                bail!("`runlog serve` serves a local store; {url} is already a tracking server")
            }
        },
    }
}

/// The sink drained records go to: the embedded store, or an MLflow server.
pub fn open_sink(tracking: &Tracking) -> Result<Box<dyn crate::sink::Sink>> {
    match tracking {
        Tracking::Local(dir) => Ok(Box::new(
            crate::store::Store::open(dir).map_err(|e| crate::store::explain_at(dir, e))?,
        )),
        Tracking::Http(uri) => Ok(Box::new(crate::mlflow::HttpSink::new(
            crate::mlflow::Client::new(uri)?,
        )?)),
    }
}

/// The spool directory programs write to: `<store>/spool`, or `.runlog/spool`
/// when the history is on a server.
pub fn spool_dir(tracking: &Tracking) -> PathBuf {
    match tracking {
        Tracking::Local(dir) => dir.join("spool"),
        Tracking::Http(_) => PathBuf::from(".runlog").join("spool"),
    }
}
