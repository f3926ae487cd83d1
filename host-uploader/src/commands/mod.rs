//! One module per subcommand.

pub mod delivery;
pub mod drain;
pub mod history;
pub mod outputs;
pub mod run;
pub mod sync;

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
    /// Interprets a tracking URI; `None` means the store found by
    /// [`crate::store::locate::discover`] (the nearest `.runlog` upwards).
    pub fn parse(uri: Option<&str>) -> Result<Self> {
        Ok(match uri {
            None | Some("") => Tracking::Local(crate::store::locate::discover()),
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
        Command::Sync(args) => sync::sync(args, &tracking),
        Command::Serve(args) => match &tracking {
            Tracking::Local(dir) => crate::serve::serve(dir, &args).map(|()| 0),
            Tracking::Http(url) => {
                bail!("`runlog serve` serves a local store; {url} is already a tracking server")
            }
        },
    }
}

/// The sink drained records go to: always the embedded store ([`store_dir`]);
/// an MLflow server gets them from there (`delivery`, exactly once).
pub fn open_sink(tracking: &Tracking) -> Result<Box<dyn crate::sink::Sink>> {
    let dir = store_dir(tracking);
    let store = crate::store::Store::open(&dir).map_err(|e| crate::store::explain_at(&dir, e))?;
    let checkpointer = store.background_checkpoints()?;
    Ok(Box::new(LocalSink {
        store,
        _checkpointer: checkpointer,
    }))
}

/// The local store directory of `tracking`: the nearest `.runlog`
/// ([`crate::store::locate::discover`]) when the history is on a server.
pub fn store_dir(tracking: &Tracking) -> PathBuf {
    match tracking {
        Tracking::Local(dir) => dir.clone(),
        Tracking::Http(_) => crate::store::locate::discover(),
    }
}

/// The spool directory programs write to: `<store>/spool`, or the spool of
/// the local store folder ([`crate::store::locate::discover`]) when the
/// history is on a server.
pub fn spool_dir(tracking: &Tracking) -> PathBuf {
    match tracking {
        Tracking::Local(dir) => dir.join("spool"),
        Tracking::Http(_) => crate::store::locate::discover().join("spool"),
    }
}

/// The embedded store as the drain's sink, with its log checkpointed in the background.
struct LocalSink {
    store: crate::store::Store,
    _checkpointer: crate::store::Checkpointer,
}

impl crate::sink::Sink for LocalSink {
    fn watermark(&mut self, stream: &str) -> Result<Option<u64>> {
        self.store.watermark(stream)
    }

    fn commit(&mut self, batch: &crate::sink::Batch) -> Result<()> {
        self.store.commit_batch(batch, &mut |_| {})
    }

    fn commit_with_progress(
        &mut self,
        batch: &crate::sink::Batch,
        progress: crate::sink::Progress<'_>,
    ) -> Result<()> {
        self.store.commit_batch(batch, progress)
    }

    fn run_status(&mut self, run_id: &str) -> Result<Option<String>> {
        self.store.run_status(run_id)
    }
}
