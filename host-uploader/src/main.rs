//! `runlog`: drain logged records into the run history, run programs as runs,
//! query the history, and serve it over the MLflow REST API.

use clap::Parser;
use runlog_uploader::{cli, commands};

fn main() {
    let args = cli::normalize_args(std::env::args());
    let cli = match cli::Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            if err.use_stderr() {
                if let Some(hint) = cli::missing_dashdash_hint(&args) {
                    eprintln!("\nhint: {hint}");
                }
            }
            std::process::exit(err.exit_code());
        }
    };
    match commands::dispatch(cli) {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("runlog: {err:#}");
            std::process::exit(1);
        }
    }
}
