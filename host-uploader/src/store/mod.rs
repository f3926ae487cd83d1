//! The embedded history store: SQLite plus artifact files, in one directory
//! (`.runlog/` by default).
//!
//! ```text
//! <dir>/history.sqlite    runs, series and their chunks of points, artifacts' metadata,
//!                         assets, watermarks
//! <dir>/artifacts/<run_id>/<path>
//! <dir>/spool/            rings of programs being logged (written by librunlog)
//! <dir>/tmp/              partial artifacts
//! <dir>/assets/           promoted versions and their blobs; assets.lock beside it
//!                         (promotes share it, `history gc` takes it alone)
//! ```

pub mod chunk;
pub mod locate;
mod remote;
pub mod repo;
mod schema;
pub mod series;
pub mod value;
mod write;

use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rusqlite::{Connection, ErrorCode};

pub use chunk::{Point, CHUNK_POINTS};
pub use schema::{Migration, MIGRATIONS};
pub use value::ValueKind;
pub use write::{
    explain_at, files_under, now_ms, status_str, valid_run_id, Checkpointer, StoredFile,
};

/// File name of the database inside the store directory.
pub const DB_FILE: &str = "history.sqlite";

/// An open history store.
pub struct Store {
    dir: PathBuf,
    conn: Connection,
}

impl Store {
    /// Opens the store in `dir`, creating it and migrating its schema as needed.
    ///
    /// What it creates is private to the user: directories 0700, the
    /// database 0600 (SQLite gives its `-wal` and `-shm` files the
    /// database's mode). Existing files and directories keep their modes.
    /// Any number of processes may open a new store at once (`runlog run`
    /// started three times in a fresh directory): each waits its turn.
    pub fn open(dir: &Path) -> Result<Self> {
        create_private_dir(dir)
            .with_context(|| format!("cannot create the store directory {}", dir.display()))?;
        let db = dir.join(DB_FILE);
        // Created here, before SQLite does, so that it is 0600 whatever the umask.
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&db)
            .with_context(|| format!("cannot create the history database {}", db.display()))?;
        let mut conn = Connection::open(&db)
            .with_context(|| format!("cannot open the history database {}", db.display()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        use_wal(&conn)
            .with_context(|| format!("cannot use {} (is it a runlog store?)", db.display()))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn).with_context(|| format!("cannot migrate {}", db.display()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            conn,
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The SQLite connection, for the modules that read and write the store.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The SQLite connection, mutably (transactions).
    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Where the artifacts of `run_id` are kept.
    pub fn artifact_dir(&self, run_id: &str) -> PathBuf {
        self.dir.join("artifacts").join(run_id)
    }
}

/// How long opening the store waits for other processes holding its locks.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Creates `dir` and its missing parents with mode 0700.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Switches the database to WAL. SQLite answers BUSY at once, without its
/// busy handler, while another connection holds a lock during the switch
/// (the case of several processes opening a new store together), so this
/// retries for the busy timeout itself.
fn use_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        let mode =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0));
        match mode {
            Ok(_) => return Ok(()),
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Brings the schema up to date. The usual case (up to date) reads the version
/// and takes no lock; otherwise the migrations run in one immediate
/// transaction that reads the version again inside it, so two processes
/// opening an old store at once migrate it once.
fn migrate(conn: &mut Connection) -> Result<()> {
    if schema_version(conn)? == MIGRATIONS.len() {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version = schema_version(&tx)?;
    if version == MIGRATIONS.len() {
        return Ok(());
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(version) {
        let run = || -> Result<()> {
            match step {
                Migration::Sql(sql) => tx.execute_batch(sql)?,
                Migration::SqlThen(sql, then) => {
                    tx.execute_batch(sql)?;
                    then(&tx)?;
                }
            }
            Ok(())
        };
        run().with_context(|| format!("migration {} failed", i + 1))?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    tx.commit()?;
    Ok(())
}

/// The schema version, refused if newer than this runlog knows.
fn schema_version(conn: &Connection) -> Result<usize> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        bail!(
            "the store has schema version {version}, newer than this runlog knows ({}); upgrade runlog",
            MIGRATIONS.len()
        );
    }
    Ok(version)
}
