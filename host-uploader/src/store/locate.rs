//! Where the embedded store is when no tracking URI names one: the one rule,
//! used by `run`, `drain`, `history`, `sync` and `serve` alike.
//!
//! As git finds `.git`: the nearest folder called [`STORE_DIR_NAME`] in the
//! working directory or one of its parents, so every command works from a
//! project's subfolders; when there is none, `.runlog` in the working
//! directory (where `run` and `drain` then create it). A `--tracking-uri` or
//! `RUNLOG_TRACKING_URI` always wins over this search.

use std::path::{Path, PathBuf};

/// Name of the store folder the search looks for.
pub const STORE_DIR_NAME: &str = ".runlog";

/// The store for a command started in `cwd`: the nearest `.runlog` folder in
/// `cwd` or its parents, else `cwd/.runlog`. A `.runlog` that is a file (or
/// a link to one) is not a store and does not stop the search.
pub fn discover_from(cwd: &Path) -> PathBuf {
    cwd.ancestors()
        .map(|dir| dir.join(STORE_DIR_NAME))
        .find(|candidate| candidate.is_dir())
        .unwrap_or_else(|| cwd.join(STORE_DIR_NAME))
}

/// [`discover_from`] the process's working directory; a relative `.runlog`
/// when the working directory cannot be read (e.g. deleted under us).
pub fn discover() -> PathBuf {
    match std::env::current_dir() {
        Ok(cwd) => discover_from(&cwd),
        Err(_) => PathBuf::from(STORE_DIR_NAME),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_store_folder_wins_and_files_are_skipped() {
        let root = tempfile::tempdir().unwrap();
        let deep = root.path().join("a/b/c");
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(discover_from(&deep), deep.join(".runlog"));
        std::fs::create_dir(root.path().join(".runlog")).unwrap();
        assert_eq!(discover_from(&deep), root.path().join(".runlog"));
        std::fs::write(root.path().join("a/.runlog"), b"not a store").unwrap();
        assert_eq!(discover_from(&deep), root.path().join(".runlog"));
        std::fs::create_dir(root.path().join("a/b/.runlog")).unwrap();
        assert_eq!(discover_from(&deep), root.path().join("a/b/.runlog"));
    }
}
