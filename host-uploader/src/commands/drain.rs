//! `runlog drain`: move records from spool files or a byte stream into the history.
//!
//! With `--tracking-uri http(s)://...` the records go into the local store
//! and from there to the server, exactly once (`delivery`), as for `runlog run`.

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
    let mut store_sink = open_sink(tracking)?;
    let background = match tracking {
        Tracking::Http(uri) => Some(super::delivery::start(
            &super::store_dir(tracking),
            uri,
            &[],
            None,
        )),
        Tracking::Local(_) => None,
    };
    let code = match &background {
        Some(b) => {
            let mut noting = super::delivery::Noting {
                inner: store_sink.as_mut(),
                runs: b.runs(),
            };
            drain_into(&args, tracking, &mut noting)
        }
        None => drain_into(&args, tracking, store_sink.as_mut()),
    };
    let delivered = background.is_none_or(|b| b.finish().1);
    let code = code?;
    Ok(if code == 0 && !delivered { 1 } else { code })
}

/// Drains the chosen source into `sink`; returns the exit code.
fn drain_into(
    args: &DrainArgs,
    tracking: &Tracking,
    sink: &mut dyn crate::sink::Sink,
) -> Result<i32> {
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
