//! `runlog history`: queries over a run history and how their answers are shown.
//!
//! - [`source`]: the [`HistorySource`] trait every history (embedded store,
//!   MLflow server) implements, and the types it returns.

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
