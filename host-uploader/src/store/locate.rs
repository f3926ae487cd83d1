//! Where the embedded store is when no tracking URI names one: the one rule,
//! used by `run`, `drain`, `history`, `sync` and `serve` alike.
//!
//! As git finds `.git`: the nearest folder called [`STORE_DIR_NAME`] in the
//! working directory or one of its parents, so every command works from a
//! project's subfolders; when there is none, `.runlog` in the working
//! directory (where `run` and `drain` then create it). A `--tracking-uri` or
//! `RUNLOG_TRACKING_URI` always wins over this search.
//!
//! The search stops where git's does, so that a stray `/tmp/.runlog` cannot
//! capture every store-less folder under `/tmp`:
//! - [`CEILING_ENV`] (`RUNLOG_CEILING_DIRECTORIES`, colon-separated absolute
//!   paths, as `GIT_CEILING_DIRECTORIES`): the search never goes up *into* a
//!   ceiling (the working directory itself is always searched). Relative
//!   and empty entries are ignored; entries are compared with symbolic
//!   links resolved.
//! - At a file-system boundary (a parent on another device) unless
//!   [`ACROSS_FS_ENV`] (`RUNLOG_DISCOVERY_ACROSS_FILESYSTEM`) is `1` or
//!   `true`, as `GIT_DISCOVERY_ACROSS_FILESYSTEM`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Name of the store folder the search looks for.
pub const STORE_DIR_NAME: &str = ".runlog";
/// Colon-separated folders the search never goes up into.
pub const CEILING_ENV: &str = "RUNLOG_CEILING_DIRECTORIES";
/// `1` or `true`: the search goes on past a file-system boundary.
pub const ACROSS_FS_ENV: &str = "RUNLOG_DISCOVERY_ACROSS_FILESYSTEM";

/// Where the search stops, besides the root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bounds {
    /// Folders the search never goes up into (symbolic links resolved).
    pub ceilings: Vec<PathBuf>,
    /// Go on past a parent on another device.
    pub across_filesystems: bool,
}

impl Bounds {
    /// The bounds the environment sets ([`CEILING_ENV`], [`ACROSS_FS_ENV`]).
    pub fn from_env() -> Self {
        let ceilings = std::env::var_os(CEILING_ENV)
            .map(|v| {
                std::env::split_paths(&v)
                    .filter(|p| p.is_absolute())
                    .map(|p| std::fs::canonicalize(&p).unwrap_or(p))
                    .collect()
            })
            .unwrap_or_default();
        let across = std::env::var(ACROSS_FS_ENV).is_ok_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        });
        Self {
            ceilings,
            across_filesystems: across,
        }
    }
}

/// The store for a command started in `cwd`: the nearest `.runlog` folder in
/// `cwd` or its parents within `bounds`, else `cwd/.runlog`. A `.runlog`
/// that is a file (or a link to one) is not a store and does not stop the
/// search.
pub fn discover_from(cwd: &Path, bounds: &Bounds) -> PathBuf {
    let device = |dir: &Path| std::fs::metadata(dir).ok().map(|m| m.dev());
    let start_device = device(cwd);
    for (i, dir) in cwd.ancestors().enumerate() {
        if i > 0 {
            if bounds.ceilings.iter().any(|c| c == dir) {
                break;
            }
            if !bounds.across_filesystems && device(dir) != start_device {
                break;
            }
        }
        let candidate = dir.join(STORE_DIR_NAME);
        if candidate.is_dir() {
            return candidate;
        }
    }
    cwd.join(STORE_DIR_NAME)
}

/// [`discover_from`] the process's working directory within the
/// environment's [`Bounds`]; a relative `.runlog` when the working directory
/// cannot be read (e.g. deleted under us).
pub fn discover() -> PathBuf {
    match std::env::current_dir() {
        Ok(cwd) => discover_from(&cwd, &Bounds::from_env()),
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
        let open = Bounds::default();
        assert_eq!(discover_from(&deep, &open), deep.join(".runlog"));
        std::fs::create_dir(root.path().join(".runlog")).unwrap();
        assert_eq!(discover_from(&deep, &open), root.path().join(".runlog"));
        std::fs::write(root.path().join("a/.runlog"), b"not a store").unwrap();
        assert_eq!(discover_from(&deep, &open), root.path().join(".runlog"));
        std::fs::create_dir(root.path().join("a/b/.runlog")).unwrap();
        assert_eq!(discover_from(&deep, &open), root.path().join("a/b/.runlog"));
    }

    #[test]
    fn a_ceiling_is_never_entered_but_the_working_directory_is_searched() {
        let root = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(root.path()).unwrap();
        let deep = root.join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::create_dir(root.join(".runlog")).unwrap();
        let ceiling = |c: &Path| Bounds {
            ceilings: vec![c.to_path_buf()],
            across_filesystems: false,
        };
        assert_eq!(discover_from(&deep, &ceiling(&root)), deep.join(".runlog"));
        assert_eq!(
            discover_from(&deep, &ceiling(&root.join("a"))),
            deep.join(".runlog")
        );
        assert_eq!(discover_from(&root, &ceiling(&root)), root.join(".runlog"));
        let below = ceiling(&root.join("a/b/c"));
        assert_eq!(discover_from(&deep, &below), root.join(".runlog"));
    }
}
