//! Where the real `runlog` finds its store without `--tracking-uri`: the
//! nearest `.runlog` upwards, as git finds `.git`, stopped by
//! `RUNLOG_CEILING_DIRECTORIES` and at a file-system boundary unless
//! `RUNLOG_DISCOVERY_ACROSS_FILESYSTEM=1` (`store/locate.rs`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value as Json;

/// `runlog ARGS` in `dir`, with `env`, and with no tracking URI from the
/// caller's environment; panics unless it succeeds.
fn runlog_in(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let mut cmd = Command::new(runlog_bin());
    cmd.current_dir(dir)
        .args(args)
        .env_remove("RUNLOG_TRACKING_URI")
        .env_remove("RUNLOG_CEILING_DIRECTORIES")
        .env_remove("RUNLOG_DISCOVERY_ACROSS_FILESYSTEM");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "runlog {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// How many runs the store in `store` holds.
fn runs_in(store: &Path) -> usize {
    let out = runlog_in(
        Path::new("/"),
        &[],
        &[
            "--tracking-uri",
            store.to_str().unwrap(),
            "history",
            "list",
            "-o",
            "json",
        ],
    );
    let v: Json = serde_json::from_str(&out).unwrap();
    v["runs"].as_array().unwrap().len()
}

/// A project folder with a store of one run at its top, and the
/// environment that keeps the search inside the test's temporary folder.
fn project() -> (tempfile::TempDir, PathBuf, String) {
    let tmp = tempfile::tempdir().unwrap();
    let outer = std::fs::canonicalize(tmp.path()).unwrap();
    let root = outer.join("proj");
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    std::fs::create_dir_all(root.join("c/d")).unwrap();
    let fence = outer.to_str().unwrap().to_string();
    runlog_in(
        &root,
        &[("RUNLOG_CEILING_DIRECTORIES", &fence)],
        &["run", "--", "true"],
    );
    assert_eq!(runs_in(&root.join(".runlog")), 1);
    (tmp, root, fence)
}

#[test]
fn a_ceiling_keeps_a_parent_store_from_capturing_a_subfolder() {
    let (_tmp, root, fence) = project();
    let deep = root.join("a/b");
    // Relative and empty entries are ignored, as git ignores them.
    let ceiling = format!("relative/dir::{}", root.display());
    runlog_in(
        &deep,
        &[("RUNLOG_CEILING_DIRECTORIES", &ceiling)],
        &["run", "--", "true"],
    );
    assert!(deep.join(".runlog").is_dir(), "the run made its own store");
    assert_eq!(runs_in(&deep.join(".runlog")), 1);
    assert_eq!(
        runs_in(&root.join(".runlog")),
        1,
        "the parent store untouched"
    );
    let listed = runlog_in(
        &deep,
        &[("RUNLOG_CEILING_DIRECTORIES", &ceiling)],
        &["history", "list", "-o", "json"],
    );
    let v: Json = serde_json::from_str(&listed).unwrap();
    assert_eq!(v["runs"].as_array().unwrap().len(), 1, "{listed}");

    // Without a ceiling between them, the subfolder uses the parent's store.
    let other = root.join("c/d");
    runlog_in(
        &other,
        &[("RUNLOG_CEILING_DIRECTORIES", &fence)],
        &["run", "--", "true"],
    );
    assert!(!other.join(".runlog").exists());
    assert_eq!(runs_in(&root.join(".runlog")), 2);
}

/// A shell command run in a private mount namespace (where a tmpfs can be
/// mounted without touching the machine's mounts), or `None` where this
/// machine allows none.
fn in_mount_namespace(script: &str, args: &[&str]) -> Option<std::process::Output> {
    let probe = "d=$(mktemp -d) && mount -t tmpfs none \"$d\"";
    for how in [
        &["--user", "--map-root-user", "--mount"][..],
        &["--mount"][..],
    ] {
        let ok = Command::new("unshare")
            .args(how)
            .args(["sh", "-c", probe])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(
                Command::new("unshare")
                    .args(how)
                    .args(["sh", "-c", script, "sh"])
                    .args(args)
                    .output()
                    .unwrap(),
            );
        }
    }
    None
}

#[test]
fn the_search_stops_at_a_file_system_boundary_unless_told_to_cross() {
    let (_tmp, root, fence) = project();
    let mnt = root.join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    // A tmpfs mounted below the project: another device. Its content
    // vanishes with the namespace, so the script reports what it saw.
    let script = r#"mount -t tmpfs none "$1" && cd "$1" &&
        RUNLOG_CEILING_DIRECTORIES="$3" RUNLOG_DISCOVERY_ACROSS_FILESYSTEM="$4" "$2" run -- true >/dev/null &&
        if test -d .runlog; then echo OWN_STORE; else echo PARENT_STORE; fi"#;
    let bin = runlog_bin();
    for (across, want, runs_after) in [("", "OWN_STORE", 1), ("1", "PARENT_STORE", 2)] {
        let args = [mnt.to_str().unwrap(), bin.to_str().unwrap(), &fence, across];
        let Some(out) = in_mount_namespace(script, &args) else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI must be able to mount a tmpfs in a mount namespace (unshare)"
            );
            eprintln!("skipped: no mount namespace on this machine");
            return;
        };
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "across={across:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout.trim(), want, "across={across:?}");
        assert_eq!(
            runs_in(&root.join(".runlog")),
            runs_after,
            "across={across:?}"
        );
    }
}
