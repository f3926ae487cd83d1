//! SQLite connections for the async server: a fixed number of open stores,
//! lent to blocking tasks one at a time.
//!
//! SQLite calls block, so a handler runs them on tokio's blocking threads
//! ([`Pool::run`]) and never on the threads that drive sockets. The pool
//! size bounds how many requests touch the database at once; the rest wait
//! for a connection in FIFO order (tokio's semaphore is fair) instead of
//! piling up threads. WAL mode lets readers run beside the one writer.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use super::error::{ApiError, ApiResult};
use crate::store::Store;

/// Open stores, lent out one per blocking task.
pub struct Pool {
    dir: PathBuf,
    idle: Mutex<Vec<Store>>,
    permits: Semaphore,
}

impl Pool {
    /// A pool of up to `size` connections to the store in `dir` (opened as
    /// needed; one is opened now so a bad store fails at start).
    pub fn new(dir: PathBuf, size: usize) -> anyhow::Result<Arc<Self>> {
        let first = Store::open(&dir)?;
        Ok(Arc::new(Self {
            dir,
            idle: Mutex::new(vec![first]),
            permits: Semaphore::new(size.max(1)),
        }))
    }

    /// Runs `f` with a store on a blocking thread.
    pub async fn run<T, F>(self: &Arc<Self>, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> ApiResult<T> + Send + 'static,
    {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ApiError::busy("the server is shutting down"))?;
        let pool = Arc::clone(self);
        let out = tokio::task::spawn_blocking(move || {
            let taken = pool.idle.lock().map_or(None, |mut v| v.pop());
            let mut store = match taken {
                Some(s) => s,
                None => Store::open(&pool.dir).map_err(ApiError::internal)?,
            };
            let out = f(&mut store);
            if let Ok(mut idle) = pool.idle.lock() {
                idle.push(store);
            }
            out
        })
        .await
        .map_err(|e| ApiError::internal(format!("a request handler failed: {e}")))?;
        drop(permit);
        out
    }
}
