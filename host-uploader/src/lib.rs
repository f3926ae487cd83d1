//! runlog-uploader: the host side of runlog, behind the `runlog` binary.
//!
//! - [`cli`]: the command line.
//! - [`commands`]: one module per subcommand (run, drain, history, serve).
//! - [`store`]: the embedded history store (SQLite + artifact files).
//! - [`serve`]: `runlog serve`, the MLflow REST API and web page over the store.
//! - [`mlflow`]: an MLflow REST client (ureq), the HTTP sink and history source.

pub mod cli;
pub mod commands;
pub mod mlflow;
pub mod serve;
pub mod store;
