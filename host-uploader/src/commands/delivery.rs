//! Offline first: `runlog run --tracking-uri http(s)://...` records the run in
//! the local store, as without a URI, so the program starts at once and logs
//! at full speed whatever the server does; a background thread delivers the
//! run to the server (exactly once, `mlflow::deliver`) while it goes on and
//! at its end, for a bounded time. What is not delivered by then stays in the
//! local store for `runlog sync`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::Tracking;
use crate::mlflow::deliver::Deliverer;
use crate::mlflow::Client;
use crate::store::Store;

/// How long `runlog run` goes on delivering after the program ended, unless
/// RUNLOG_SYNC_WAIT_S says otherwise.
pub const END_WAIT: Duration = Duration::from_secs(60);
/// Pause between delivery passes while the program runs.
const PASS_EVERY: Duration = Duration::from_millis(500);

/// Where `runlog run` records, and the server it then delivers to, if any.
pub fn local_first(tracking: &Tracking) -> (Tracking, Option<String>) {
    match tracking {
        Tracking::Http(uri) => (
            Tracking::Local(crate::store::locate::discover()),
            Some(uri.clone()),
        ),
        other => (other.clone(), None),
    }
}

/// A delivery thread.
pub struct Background {
    /// When set: deliver what is left until then, and stop.
    deadline: Arc<Mutex<Option<Instant>>>,
    handle: JoinHandle<Result<String, String>>,
    uri: String,
    store: PathBuf,
    run_id: String,
}

/// Starts delivering run `run_id` of the store at `store` to `uri`.
pub fn start(store: &Path, uri: &str, run_id: &str) -> Background {
    let deadline = Arc::new(Mutex::new(None));
    let store = std::path::absolute(store).unwrap_or_else(|_| store.to_path_buf());
    let handle = {
        let (deadline, store, uri, run_id) = (
            deadline.clone(),
            store.clone(),
            uri.to_string(),
            run_id.to_string(),
        );
        std::thread::spawn(move || deliver_loop(&store, &uri, &run_id, &deadline))
    };
    eprintln!(
        "runlog: recording in {} and delivering to {uri} in the background",
        store.display()
    );
    Background {
        deadline,
        handle,
        uri: uri.to_string(),
        store,
        run_id: run_id.to_string(),
    }
}

fn deliver_loop(
    store: &Path,
    uri: &str,
    run_id: &str,
    deadline: &Mutex<Option<Instant>>,
) -> Result<String, String> {
    let store = Store::open(store).map_err(|e| format!("{e:#}"))?;
    let mut deliverer = Deliverer::new(Client::background(uri).map_err(|e| format!("{e:#}"))?);
    let mut said = String::new();
    let mut last_error = String::from("the program ended before a first delivery");
    loop {
        let until = *deadline.lock().unwrap_or_else(|e| e.into_inner());
        match deliverer.deliver(&store, run_id) {
            Ok(d) if until.is_some() && d.complete => return Ok(d.remote_id),
            Ok(_) => {
                if !said.is_empty() {
                    eprintln!("runlog: {uri} answers again; delivering");
                    said.clear();
                }
            }
            Err(e) => {
                let msg = format!("{e:#}");
                if msg != said {
                    eprintln!(
                        "runlog: cannot deliver to {uri} now ({msg}); the run is kept in {} and \
                         sent when the server is back",
                        store.dir().display()
                    );
                    said = msg.clone();
                }
                last_error = msg;
            }
        }
        // Sleep, but notice a deadline set meanwhile.
        let wake = Instant::now() + PASS_EVERY;
        while Instant::now() < wake {
            let until = *deadline.lock().unwrap_or_else(|e| e.into_inner());
            match until {
                Some(t) if Instant::now() >= t => return Err(last_error),
                Some(_) if said.is_empty() => {
                    std::thread::sleep(Duration::from_millis(20));
                    break;
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

impl Background {
    /// Delivers what is left (the run has ended in the store), for at most
    /// [`END_WAIT`], and says on standard error where the run is.
    pub fn finish(self) {
        let wait = std::env::var("RUNLOG_SYNC_WAIT_S")
            .ok()
            .and_then(|s| s.parse().ok())
            .map_or(END_WAIT, Duration::from_secs_f64);
        *self.deadline.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + wait);
        let outcome = self
            .handle
            .join()
            .unwrap_or_else(|_| Err("the delivery thread failed".into()));
        match outcome {
            Ok(remote) => eprintln!(
                "runlog: run {} delivered to {} (MLflow run {remote}, run name {})",
                self.run_id, self.uri, self.run_id
            ),
            Err(why) => eprintln!(
                "runlog: run {id} is recorded in {store} but not yet delivered to {uri} ({why}); \
                 deliver it with: runlog --tracking-uri {uri} sync --from {store} {id}",
                id = self.run_id,
                store = self.store.display(),
                uri = self.uri,
            ),
        }
    }
}
