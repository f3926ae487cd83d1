//! `runlog run` uploads only the outputs a run made; `promote` stores each
//! content once. The real binary, real programs (`sh`), a real store.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use serde_json::Value as Json;

fn runlog(cwd: &Path, store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_runlog"))
        .current_dir(cwd)
        .arg("--tracking-uri")
        .arg(store)
        .args(args)
        .env_remove("RUNLOG_TRACKING_URI")
        .output()
        .unwrap()
}

fn ok(out: Output) -> (String, String) {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    (String::from_utf8(out.stdout).unwrap(), err)
}

/// `runlog run -- sh -c SCRIPT` in `cwd`; returns the run id and stderr.
fn run_sh(cwd: &Path, store: &Path, script: &str) -> (String, String) {
    let (out, err) = ok(runlog(cwd, store, &["run", "--", "sh", "-c", script]));
    (out.lines().last().unwrap().trim().to_string(), err)
}

fn artifacts(store: &Path, run: &str) -> BTreeSet<String> {
    let (out, _) = ok(runlog(
        Path::new("/"),
        store,
        &["-o", "json", "history", "info", "-r", run],
    ));
    let doc: Json = serde_json::from_str(&out).unwrap();
    doc["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["path"].as_str().unwrap().to_string())
        .collect()
}

fn set_mtime(path: &Path, t: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[test]
fn outputs_are_only_the_files_the_run_created_or_modified() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let store = dir.path().join("store");
    let outputs = work.join("outputs");
    std::fs::create_dir_all(outputs.join("sub")).unwrap();
    // Left by an earlier run, an hour ago (whole seconds, as `touch -d @S` sets them).
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 3600;
    let earlier = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    for (name, content) in [
        ("old.txt", "old"),
        ("sub/old.bin", "old too"),
        ("edit.txt", "aaaa"),
        ("sneaky.txt", "AAAA"),
    ] {
        std::fs::write(outputs.join(name), content).unwrap();
        set_mtime(&outputs.join(name), earlier);
    }
    // A file rewritten with its old size and old modification time still counts:
    // its change time moved.
    let sneaky_mtime = std::fs::metadata(outputs.join("sneaky.txt"))
        .unwrap()
        .mtime();
    let (run1, err) = run_sh(
        &work,
        &store,
        &format!(
            "echo new > outputs/new.txt && printf bbbb > outputs/edit.txt && \
             printf BBBB > outputs/sneaky.txt && touch -d @{sneaky_mtime} outputs/sneaky.txt"
        ),
    );
    let after = std::fs::metadata(outputs.join("sneaky.txt")).unwrap();
    assert_eq!(
        (after.mtime(), after.mtime_nsec(), after.len()),
        (sneaky_mtime, 0, 4)
    );
    assert_eq!(
        artifacts(&store, &run1),
        BTreeSet::from([
            "outputs/edit.txt".to_string(),
            "outputs/new.txt".to_string(),
            "outputs/sneaky.txt".to_string(),
        ])
    );
    assert!(
        err.contains("2 file(s) under outputs were there before the run"),
        "{err}"
    );
    let (edit, _) = ok(runlog(
        Path::new("/"),
        &store,
        &["history", "info", "-r", &run1, "-a", "outputs/edit.txt"],
    ));
    assert_eq!(edit, "bbbb");

    // A run that changes nothing uploads nothing; one that touches a file uploads it.
    let (run2, _) = run_sh(&work, &store, "true");
    assert!(artifacts(&store, &run2).is_empty());
    let (run3, _) = run_sh(&work, &store, "sleep 0.01; touch outputs/sub/old.bin");
    assert_eq!(
        artifacts(&store, &run3),
        BTreeSet::from(["outputs/sub/old.bin".to_string()])
    );
}

/// Distinct files (by inode) under `dir`: (count, apparent bytes, allocated bytes).
fn distinct_files(dir: &Path) -> (usize, u64, u64) {
    let mut seen: BTreeMap<(u64, u64), (u64, u64)> = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                seen.insert((m.dev(), m.ino()), (m.len(), m.blocks() * 512));
            }
        }
    }
    let apparent = seen.values().map(|v| v.0).sum();
    let allocated = seen.values().map(|v| v.1).sum();
    (seen.len(), apparent, allocated)
}

fn promote(store: &Path, run: &str) -> Json {
    let (out, _) = ok(runlog(
        Path::new("/"),
        store,
        &[
            "-o",
            "json",
            "history",
            "promote",
            "-r",
            run,
            "-ap",
            "outputs/model",
            "-n",
            "clf",
        ],
    ));
    serde_json::from_str(&out).unwrap()
}

#[test]
fn promoting_the_same_files_again_costs_no_space() {
    const MODEL: usize = 4 << 20;
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let store = dir.path().join("store");
    std::fs::create_dir_all(&work).unwrap();
    let model: Vec<u8> = (0..MODEL as u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.path().join("model.bin"), &model).unwrap();
    // Two runs write the same model (and a config that differs in the second).
    let script = |cfg: &str| {
        format!(
            "mkdir -p outputs/model && cp ../model.bin outputs/model/ && \
             echo {cfg} > outputs/model/config.txt"
        )
    };
    let (a, _) = run_sh(&work, &store, &script("cfg-a"));
    let (b, _) = run_sh(&work, &store, &script("cfg-b"));

    let v1 = promote(&store, &a);
    let after_one = distinct_files(&store.join("assets"));
    let v2 = promote(&store, &a);
    let v3 = promote(&store, &b);
    let after_three = distinct_files(&store.join("assets"));
    eprintln!("assets after 1 version: {after_one:?}; after 3: {after_three:?}");
    assert_eq!(after_one.0, 2, "the model and a config");
    assert_eq!(after_three.0, 3, "the model once, two configs");
    assert_eq!(after_three.1, MODEL as u64 + 6 + 6);
    // What the disk holds grew by the second config's block at most.
    assert!(
        after_three.2 <= after_one.2 + 8192,
        "allocated {} bytes after 3 versions, {} after 1",
        after_three.2,
        after_one.2
    );

    // Every version reads as it was promoted, at its own location.
    let location = |v: &Json| PathBuf::from(v["location"].as_str().unwrap());
    for (v, cfg) in [(&v1, "cfg-a\n"), (&v2, "cfg-a\n"), (&v3, "cfg-b\n")] {
        let d = location(v);
        assert_eq!(
            std::fs::read(d.join("outputs/model/model.bin")).unwrap(),
            model
        );
        assert_eq!(
            std::fs::read_to_string(d.join("outputs/model/config.txt")).unwrap(),
            cfg
        );
    }
    assert_eq!(
        std::fs::metadata(location(&v3).join("outputs/model/model.bin"))
            .unwrap()
            .nlink(),
        4,
        "the blob and three versions share one file"
    );

    // A version in the layout before blobs (plain copies) still reads and lists,
    // and promoting again works beside it.
    let v1_model = location(&v1).join("outputs/model/model.bin");
    std::fs::remove_file(&v1_model).unwrap();
    std::fs::write(&v1_model, &model).unwrap();
    let v4 = promote(&store, &b);
    assert_eq!(v4["version"], 4);
    let (out, _) = ok(runlog(
        Path::new("/"),
        &store,
        &["-o", "json", "history", "assets"],
    ));
    let doc: Json = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["assets"][0]["versions"].as_array().unwrap().len(), 4);
    assert_eq!(std::fs::read(&v1_model).unwrap(), model);

    // A run file changed on disk since it was stored is still refused, blob or not.
    let out = promote_after_changing(&store, &a, "outputs/model/model.bin", b"tampered");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("changed on disk"));
    assert!(!store.join("assets/clf/5").exists());
}

/// Overwrites the stored artifact `path` of `run`, then tries to promote
/// the run's `outputs/model` as `clf`.
fn promote_after_changing(store: &Path, run: &str, path: &str, content: &[u8]) -> Output {
    std::fs::write(store.join("artifacts").join(run).join(path), content).unwrap();
    runlog(
        Path::new("/"),
        store,
        &[
            "history",
            "promote",
            "-r",
            run,
            "-ap",
            "outputs/model",
            "-n",
            "clf",
        ],
    )
}

/// The blobs' files under `store`: (file name, content).
fn blob_files(store: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let Ok(shards) = std::fs::read_dir(store.join("assets/.blobs")) else {
        return out;
    };
    for shard in shards.flatten().filter(|e| e.path().is_dir()) {
        for f in std::fs::read_dir(shard.path()).unwrap().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            out.insert(name, std::fs::read(f.path()).unwrap());
        }
    }
    out
}

fn gc(store: &Path) -> Json {
    let (out, _) = ok(runlog(
        Path::new("/"),
        store,
        &["-o", "json", "history", "gc"],
    ));
    serde_json::from_str(&out).unwrap()
}

#[test]
fn gc_removes_blobs_of_failed_promotes_and_never_a_named_one() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let store = dir.path().join("store");
    std::fs::create_dir_all(&work).unwrap();
    let (kept, _) = run_sh(
        &work,
        &store,
        "mkdir -p outputs/model && echo weights-kept > outputs/model/model.bin",
    );
    let v1 = promote(&store, &kept);
    // A promote that fails midway: its first file's blob is stored, then its
    // second file is found changed on disk. Nothing names that blob.
    let (failed, _) = run_sh(
        &work,
        &store,
        "mkdir -p outputs/model && echo weights-orphan > outputs/model/a.bin && \
         echo second > outputs/model/b.bin && rm outputs/model/model.bin",
    );
    let out = promote_after_changing(&store, &failed, "outputs/model/b.bin", b"changed");
    assert_eq!(out.status.code(), Some(1));
    let before = blob_files(&store);
    assert!(
        before.values().any(|c| c == b"weights-orphan\n"),
        "the failed promote left its first blob: {:?}",
        before.keys()
    );
    // Leftovers of a promote killed at each step.
    std::fs::write(store.join("assets/.blobs/.tmp-1-2"), b"partial").unwrap();
    std::fs::create_dir_all(store.join("assets/clf/.staging-1-2/outputs")).unwrap();
    std::fs::create_dir_all(store.join("assets/clf/9/outputs")).unwrap();

    let report = gc(&store);
    assert_eq!(report["removed_blobs"], 1, "{report}");
    assert_eq!(report["removed_bytes"], 15, "{report}");
    assert_eq!(report["removed_leftovers"], 3, "{report}");
    assert_eq!(report["kept_blobs"], 1, "{report}");
    let after = blob_files(&store);
    assert_eq!(
        after.values().collect::<Vec<_>>(),
        vec![&b"weights-kept\n".to_vec()],
        "only the named blob stays"
    );
    assert!(!store.join("assets/.blobs/.tmp-1-2").exists());
    assert!(!store.join("assets/clf/.staging-1-2").exists());
    assert!(!store.join("assets/clf/9").exists());
    // The promoted version still reads, and promoting again reuses the blob.
    let location = PathBuf::from(v1["location"].as_str().unwrap());
    assert_eq!(
        std::fs::read(location.join("outputs/model/model.bin")).unwrap(),
        b"weights-kept\n"
    );
    let v2 = promote(&store, &kept);
    assert_eq!(v2["version"], 2);
    assert_eq!(blob_files(&store).len(), 1);
    // Nothing left to collect; a second run removes nothing.
    let again = gc(&store);
    assert_eq!(again["removed_blobs"], 0, "{again}");
    assert_eq!(again["removed_leftovers"], 0, "{again}");
    assert_eq!(again["kept_blobs"], 1, "{again}");
}
