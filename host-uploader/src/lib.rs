//! runlog-uploader: the host side of runlog, behind the `runlog` binary.
//!
//! - [`cli`]: the command line.
//! - [`commands`]: one module per subcommand (run, drain, history, serve).
//! - [`store`]: the embedded history store (SQLite + artifact files).

pub mod cli;
pub mod commands;
pub mod store;
