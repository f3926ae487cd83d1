//! Talking MLflow REST to a tracking server (a real `mlflow server`, or
//! `runlog serve`).
//!
//! - [`client`]: requests with retries, artifact transfer through the
//!   server's `mlflow-artifacts` proxy.
//! - [`deliver`]: [`deliver::Deliverer`], runs of the local store sent on
//!   exactly once (`runlog sync`, offline-first `runlog run`).
//! - [`history`]: [`history::HttpHistory`], what `runlog history` queries.
//! - [`protocol`]: [`crate::protocol`], the protocol shared with `runlog serve`.

pub mod client;
pub mod deliver;
pub mod history;
pub use crate::protocol;
mod wire;

pub use client::{Client, MlflowError, Retry};
pub use history::HttpHistory;
