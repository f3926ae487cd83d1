//! runlog-uploader: the host side of runlog, behind the `runlog` binary.
//!
//! - [`cli`]: the command line.
//! - [`commands`]: one module per subcommand (run, drain, history, serve).
//! - [`drain`]: moving records from spool rings and byte streams into a sink.
//! - [`signals`]: SIGINT/SIGTERM handling.
//! - [`history`]: history queries ([`history::HistorySource`]) and their rendering.
//! - [`store`]: the embedded history store (SQLite + artifact files).
//! - [`serve`]: `runlog serve`, the MLflow REST API and web page over the store.
//! - [`mlflow`]: an MLflow REST client (ureq), the HTTP sink and history source.
//! - [`protocol`]: the MLflow REST protocol, shared by [`serve`] and [`mlflow`].
//! - [`sink`]: where drained batches go (the store, or an MLflow server).
//! - [`ranks`]: how a rank's points are named and how ranks' ends settle a run.
//! - [`sysmetrics`]: the system metrics sampler of `runlog run`.

pub mod cli;
pub mod commands;
pub mod drain;
pub mod history;
pub mod mlflow;
pub mod protocol;
pub mod ranks;
pub mod serve;
pub mod signals;
pub mod sink;
pub mod store;
pub mod sysmetrics;
