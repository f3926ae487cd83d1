//! Artifacts too large for the ring: staged as files in the spool directory
//! (temp name, fsync, rename) and announced with `Record::ArtifactFile`.
//! Also `runlog_upload_file`.

use std::ffi::c_char;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use runlog_core::crc::Crc32;
use runlog_core::record::Record;
use runlog_core::wire;

use crate::error::{fail, fail_fmt};
use crate::guard::guard;
use crate::logger::{logger_ref, put_ticket, runlog_logger, runlog_ticket, tri, Kind};
use crate::status::*;
use crate::text;

use super::spool::SpoolConfig;

/// Stages content produced by `write` as `<stem>.<id>.blob` and pushes an
/// `ArtifactFile` record for it; returns the record's ticket.
pub(crate) fn upload_staged(
    logger: &runlog_logger,
    config: &SpoolConfig,
    path: &str,
    write: impl FnOnce(&mut File, &mut Crc32) -> io::Result<u64>,
) -> Result<u64, runlog_status> {
    let id = {
        let mut g = logger.acquire()?;
        let open = g
            .as_mut()
            .filter(|o| !o.ending)
            .ok_or_else(|| fail(RUNLOG_STATUS_CLOSED, c"logger is closed"))?;
        let id = open.next_artifact;
        open.next_artifact = id.wrapping_add(1);
        id
    };
    let name = format!("{}.{id}.blob", config.stem);
    let tmp = config.dir.join(format!(".{name}.tmp"));
    let staged = config.dir.join(&name);
    let (len, crc32) = match stage(&tmp, &staged, write) {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(fail_fmt(
                RUNLOG_STATUS_IO,
                format_args!(
                    "cannot stage artifact {path:?} as {}: {e}",
                    staged.display()
                ),
            ));
        }
    };
    let record = Record::ArtifactFile {
        path,
        file: &name,
        len,
        crc32,
    };
    let pushed = {
        let mut g = logger.acquire()?;
        match g.as_mut() {
            Some(open) => logger.push_locked(open, &|buf| wire::encode(&record, buf)),
            None => Err(fail(RUNLOG_STATUS_CLOSED, c"logger is closed")),
        }
    };
    if pushed.is_err() {
        // Not announced, so no uploader will ever take it.
        let _ = fs::remove_file(&staged);
    }
    pushed
}

fn stage(
    tmp: &Path,
    staged: &Path,
    write: impl FnOnce(&mut File, &mut Crc32) -> io::Result<u64>,
) -> io::Result<(u64, u32)> {
    // 0600: a staged file is as private as the spool (see `spool::create`).
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)?;
    let mut crc = Crc32::new();
    let len = write(&mut f, &mut crc)?;
    f.sync_all()?;
    drop(f);
    fs::rename(tmp, staged)?;
    Ok((len, crc.finish()))
}

/// Copies `src` into `dst`, updating `crc`; returns the bytes copied.
fn copy_with_crc(src: &mut File, dst: &mut File, crc: &mut Crc32) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        crc.update(&buf[..n]);
        dst.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// Uploads the file at `file_path` as the run's artifact `artifact_path`
/// (host builds only).
///
/// The file's content is read (or, above 1/8 of the ring, copied into a
/// staged file in the spool directory) before the call returns, so the caller
/// may change or delete the file afterwards. `artifact_path` is checked as in
/// `runlog_upload`. `file_path`: NUL-terminated, any bytes the OS accepts, up
/// to 4096 bytes. `ticket`: may be NULL. Thread-safe. Not a hot-path call.
///
/// Returns OK, NULL_ARGUMENT, INVALID_UTF8 / UNSAFE_PATH (artifact path),
/// INVALID_ARGUMENT (file path too long), IO (cannot read the file, or
/// cannot stage it; the message names the file), FULL, CLOSED.
///
/// # Safety
/// `logger` NULL or a valid handle; `artifact_path`, `file_path` NULL or
/// NUL-terminated; `ticket` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn runlog_upload_file(
    logger: *mut runlog_logger,
    artifact_path: *const c_char,
    file_path: *const c_char,
    ticket: *mut runlog_ticket,
) -> runlog_status {
    guard(|| {
        // SAFETY: caller contract.
        let logger = tri!(unsafe { logger_ref(logger) });
        // SAFETY: caller contract.
        let path = tri!(unsafe { text::artifact_path(artifact_path) });
        if file_path.is_null() {
            return fail(RUNLOG_STATUS_NULL_ARGUMENT, c"file path is NULL");
        }
        // SAFETY: caller contract; bounded scan for the terminator.
        let len = match (0..=4096).find(|&i| unsafe { *file_path.add(i) } == 0) {
            Some(len) => len,
            None => {
                return fail(
                    RUNLOG_STATUS_INVALID_ARGUMENT,
                    c"file path is longer than 4096 bytes",
                )
            }
        };
        // SAFETY: the `len` bytes before the terminator were just read.
        let bytes = unsafe { std::slice::from_raw_parts(file_path.cast::<u8>(), len) };
        let file_path = Path::new(std::ffi::OsStr::from_bytes(bytes));
        let io_fail = |e: io::Error| {
            fail_fmt(
                RUNLOG_STATUS_IO,
                format_args!("cannot read {}: {e}", file_path.display()),
            )
        };
        let mut src = tri!(File::open(file_path).map_err(io_fail));
        let size = tri!(src.metadata().map_err(io_fail)).len();
        let seq = match &logger.kind {
            Kind::Spool(c) if size > c.inline_limit as u64 => {
                tri!(upload_staged(logger, c, path, |dst, crc| copy_with_crc(
                    &mut src, dst, crc
                )))
            }
            _ => {
                let mut data = Vec::new();
                tri!(src.read_to_end(&mut data).map_err(io_fail));
                tri!(logger.upload_inline(path, &data))
            }
        };
        put_ticket(ticket, seq);
        RUNLOG_STATUS_OK
    })
}
