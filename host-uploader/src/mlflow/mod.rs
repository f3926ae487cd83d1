//! Talking MLflow REST to a tracking server (a real `mlflow server`, or
//! `runlog serve`).
