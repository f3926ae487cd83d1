//! `runlog drain`: move records from spool files or a byte stream into the history.

use anyhow::{bail, Result};

use super::{open_sink, spool_dir, Tracking};
use crate::cli::DrainArgs;
use crate::drain::{self, Limits};
use crate::signals;

/// Runs `runlog drain`; returns the exit code.
pub fn drain(args: DrainArgs, tracking: &Tracking) -> Result<i32> {
    let byte_sources = [
        args.serial.is_some(),
        args.tcp_listen.is_some(),
        args.tcp_connect.is_some(),
        args.input.is_some(),
    ];
    if args.spool.is_some() && byte_sources.contains(&true) {
        bail!("--spool cannot be combined with a byte-stream source; run one `runlog drain` per source");
    }
    let mut sink = open_sink(tracking)?;
    let sink = sink.as_mut();
    signals::install();
    let stop = || signals::received().is_some();
    let limits = Limits {
        retry: !args.once,
        ..Limits::default()
    };
    if let Some(dev) = &args.serial {
        drain::drain_serial(dev, args.baud, sink, limits, args.once, &stop)?;
    } else if let Some(addr) = &args.tcp_listen {
        drain::drain_tcp_listen(addr, sink, limits, args.once, &stop)?;
    } else if let Some(addr) = &args.tcp_connect {
        drain::drain_tcp_connect(addr, sink, limits, args.once, &stop)?;
    } else if let Some(input) = &args.input {
        drain::drain_input(input, sink, limits, &stop)?;
    } else {
        let dir = args.spool.clone().unwrap_or_else(|| spool_dir(tracking));
        if !args.once {
            eprintln!("runlog: draining {} (Ctrl-C to stop)", dir.display());
        }
        let refused = drain::drain_spool(&dir, sink, limits, args.once, &stop)?;
        if refused != 0 {
            eprintln!(
                "runlog: {refused} spool file(s) could not be drained, or lost records to damage \
                 (see the warnings above)"
            );
            return Ok(1);
        }
    }
    Ok(0)
}
