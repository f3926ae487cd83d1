//! Files under a directory, reached without following symbolic links.
//!
//! Artifact paths are checked as text (`artifacts::check_path`), but the
//! directory itself is shared with whatever else runs on the machine: a
//! symbolic link planted at `artifacts/<run>/a` would make a download read,
//! or an upload write, wherever it points. So every component below the
//! store directory is opened with `openat(..., O_NOFOLLOW)`, one at a time,
//! from the descriptor of its parent: a link anywhere on the way is an
//! error (`ELOOP`), never followed, and no name is resolved twice (no gap
//! between a check and its use).

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

fn c_name(name: &str) -> io::Result<CString> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is not one path component"),
        ));
    }
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a name"))
}

fn open_at(dir: &OwnedFd, name: &str, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = c_name(name)?;
    // SAFETY: `dir` is an open descriptor, `c` a NUL-terminated string that
    // outlives the call; the mode argument is read only with O_CREAT.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c.as_ptr(),
            flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o644 as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by openat and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens the directory `root` (trusted: the store directory).
pub fn open_root(root: &Path) -> io::Result<OwnedFd> {
    Ok(File::open(root)?.into())
}

/// Opens directory `segs` under `dir`, one component at a time, refusing
/// symbolic links; with `create`, makes the missing ones.
pub fn dir_at(dir: OwnedFd, segs: &[&str], create: bool) -> io::Result<OwnedFd> {
    let mut cur = dir;
    for seg in segs {
        let flags = libc::O_RDONLY | libc::O_DIRECTORY;
        cur = match open_at(&cur, seg, flags) {
            Err(e) if create && e.kind() == io::ErrorKind::NotFound => {
                let c = c_name(seg)?;
                // SAFETY: `cur` is an open descriptor, `c` NUL-terminated.
                let rc = unsafe { libc::mkdirat(cur.as_raw_fd(), c.as_ptr(), 0o755) };
                if rc != 0 {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::AlreadyExists {
                        return Err(e);
                    }
                }
                open_at(&cur, seg, flags)?
            }
            other => other?,
        };
    }
    Ok(cur)
}

/// Opens the regular file `name` in `dir` for reading, refusing a link.
pub fn open_file(dir: &OwnedFd, name: &str) -> io::Result<File> {
    // O_NONBLOCK: opening a FIFO planted here must not wait for a writer.
    let f = File::from(open_at(dir, name, libc::O_RDONLY | libc::O_NONBLOCK)?);
    if !f.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(f)
}

/// Whether `name` in `dir` is a symbolic link (not followed).
pub fn is_link(dir: &OwnedFd, name: &str) -> io::Result<bool> {
    let c = c_name(name)?;
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `dir` is open, `c` NUL-terminated, `st` writable memory of
    // the right type that fstatat fills on success.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            c.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::NotFound {
            Ok(false)
        } else {
            Err(e)
        };
    }
    // SAFETY: fstatat succeeded, so `st` is initialised.
    let st = unsafe { st.assume_init() };
    Ok(st.st_mode & libc::S_IFMT == libc::S_IFLNK)
}

/// Moves the file `from` (a trusted path) to `name` in `dir`, replacing a
/// file there but never a link.
pub fn rename_into(from: &Path, dir: &OwnedFd, name: &str) -> io::Result<()> {
    if is_link(dir, name)? {
        return Err(io::Error::from_raw_os_error(libc::ELOOP));
    }
    let src = CString::new(from.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a path"))?;
    let dst = c_name(name)?;
    // SAFETY: both strings are NUL-terminated and outlive the call; `dir` is open.
    let rc = unsafe { libc::renameat(libc::AT_FDCWD, src.as_ptr(), dir.as_raw_fd(), dst.as_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether an error means a link (or a file where a directory was needed)
/// was in the way.
pub fn is_link_error(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_never_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("secret"), "s").unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::write(root.join("a/f"), "ok").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("a/dirlink")).unwrap();
        std::os::unix::fs::symlink(outside.join("secret"), root.join("a/filelink")).unwrap();
        let fd = || open_root(&root).unwrap();
        let a = dir_at(fd(), &["a"], false).unwrap();
        assert!(open_file(&a, "f").is_ok());
        assert!(is_link_error(&open_file(&a, "filelink").unwrap_err()));
        assert!(is_link_error(
            &dir_at(fd(), &["a", "dirlink"], false).unwrap_err()
        ));
        assert!(is_link_error(
            &dir_at(fd(), &["a", "dirlink", "new"], true).unwrap_err()
        ));
        assert!(!outside.join("new").exists());
        let tmpf = tmp.path().join("t");
        std::fs::write(&tmpf, "x").unwrap();
        assert!(is_link_error(
            &rename_into(&tmpf, &a, "filelink").unwrap_err()
        ));
        assert_eq!(
            std::fs::read_to_string(outside.join("secret")).unwrap(),
            "s"
        );
        let b = dir_at(fd(), &["b", "c"], true).unwrap();
        rename_into(&tmpf, &b, "g").unwrap();
        assert_eq!(std::fs::read_to_string(root.join("b/c/g")).unwrap(), "x");
    }
}
