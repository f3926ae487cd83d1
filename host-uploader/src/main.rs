//! `runlog`: drain logged records into the run history, run programs as runs,
//! query the history, and serve it over the MLflow REST API.

use clap::Parser;
use runlog_uploader::{cli, commands};

fn main() {
    let args = cli::normalize_args(std::env::args());
    let cli = cli::Cli::parse_from(args);
    match commands::dispatch(cli) {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("runlog: {err:#}");
            std::process::exit(1);
        }
    }
}
