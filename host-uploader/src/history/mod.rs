//! `runlog history`: queries over a run history and how their answers are shown.
//!
//! - [`source`]: the [`HistorySource`] trait every history (embedded store,
//!   MLflow server) implements, and the types it returns.
//! - [`local`]: its implementation over the embedded store; [`assets`]:
//!   promote and the asset listing there.

pub mod assets;
pub mod blobs;
pub mod gc;
pub mod local;
pub mod source;

pub use source::{
    ArtifactEntry, Asset, AssetFile, AssetVersion, HistoryError, HistoryResult, HistorySource,
    MetricKind, MetricPoint, MetricSummary, MetricValue, RunDetail, RunFilter, RunStatus,
    RunSummary,
};
pub mod chart;
pub mod chartdata;
pub mod compare;
pub mod comparechart;
pub mod export;
pub mod render;
pub mod termchart;
pub mod timefmt;
