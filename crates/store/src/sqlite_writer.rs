//! The SQLite writer: one thread with a synchronous connection of its own (rusqlite) that makes
//! every commit of this process to a SQLite store — versions and their audit rows, releases,
//! and the group commits of the audit entries of reads.
//!
//! Through sqlx each statement's result crossed between sqlx's worker thread and the async
//! tasks: about half a millisecond for a group commit of read entries, and a seventh of an edit's
//! time in context switches (BENCHMARKS.md). Here a commit is one message to the thread and one
//! answer back, and every statement is prepared once per connection. One thread for all of a
//! process's commits also keeps them in order without SQLite's busy wait; other processes are
//! kept in order by SQLite's write lock (`BEGIN IMMEDIATE`), and each transaction reads the end
//! of the audit chain inside it, so no one appends after a stale end.
//!
//! # How durable
//!
//! A version (or release) is committed with `synchronous = FULL`: the commit returns after the
//! write-ahead log is on disk, and that sync covers everything committed before it too. A group of
//! read entries is committed with `synchronous = NORMAL` (written to the log, not yet synced) and
//! the log is synced within [`SYNC_WITHIN`] of the commit, when the store closes, and when the
//! thread stops. When a read is answered its entry is therefore in the operating system's hands:
//! it survives a crash or `kill -9` of the server at once (`tests/crash.rs`), and a crash of the
//! machine or a power failure once the sync is done. Waiting for the disk in every group commit
//! made the sync, about a fifth of a millisecond, the larger part of every read's time.
//!
//! # The read cache
//!
//! Before a group of read entries is written the transaction asks SQLite whether another
//! connection has committed since this one last looked (`PRAGMA data_version`, which this
//! connection's own commits do not move): if so the read cache is dropped, and the entries of
//! reads that took anything from it before are refused (see `cache.rs`). This thread drops the
//! cache itself after each version it commits, before it answers (and whether or not anyone is
//! still waiting for the answer).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant};

use careplan_model::Timestamp;
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use crate::StoreError;
use crate::audit::{AuditEntry, AuditRecord, ChainEnd};
use crate::audit_writer::{GROUP_LIMIT, Pending, reply};
use crate::cache::ReadCache;
use crate::script::Script;

/// How soon after its group commit a read's audit entry is synced to disk (see the module
/// documentation).
pub const SYNC_WITHIN: Duration = Duration::from_millis(20);

/// What the thread is asked to do.
#[derive(Debug)]
pub(crate) enum Job {
    /// The audit entries of an access, to commit in the next group.
    Append(Pending),
    /// A change and its audit entries, committed and synced in one transaction.
    Commit {
        change: Script,
        audit: Vec<AuditEntry>,
        at: Timestamp,
        done: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
    },
    /// Sync the log and close the connection (it is opened again if more work comes).
    Close(tokio::sync::oneshot::Sender<()>),
}

/// Starts the thread for the SQLite database file `db`; it ends when every sender (every clone
/// of the store) is gone, after a last sync.
pub(crate) fn start(db: PathBuf, cache: Arc<ReadCache>) -> Result<Sender<Job>, StoreError> {
    let (send, receive) = std::sync::mpsc::channel();
    let mut wal = db.clone().into_os_string();
    wal.push("-wal");
    let writer = SqliteWriter {
        db,
        wal: wal.into(),
        conn: None,
        data_version: None,
        full_sync: None,
        cache,
        sync_due: None,
    };
    std::thread::Builder::new()
        .name("careplan-sqlite".into())
        .spawn(move || writer.run(receive))
        .map_err(|e| StoreError::Config(format!("the SQLite writer could not start: {e}")))?;
    Ok(send)
}

/// Syncs the SQLite write-ahead log `wal`. A log that is not there has nothing unsynced: SQLite
/// removes it only after a checkpoint, which syncs.
fn sync_wal(wal: &Path) -> std::io::Result<()> {
    match std::fs::File::open(wal) {
        Ok(file) => file.sync_data(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

struct SqliteWriter {
    db: PathBuf,
    wal: PathBuf,
    /// Opened when first needed, and again after a failure.
    conn: Option<rusqlite::Connection>,
    /// `PRAGMA data_version` when this connection last looked (`None`: a new connection; reset
    /// by `open`).
    data_version: Option<i64>,
    /// Whether this connection's `synchronous` is FULL (`None`: a new connection, not yet set;
    /// reset by `open`).
    full_sync: Option<bool>,
    cache: Arc<ReadCache>,
    /// When the log must next be synced: set by the first group of read entries committed
    /// after a sync.
    sync_due: Option<Instant>,
}

/// Why a commit failed: the database's error, or a trail not as this code left it.
type Failure = Box<dyn std::error::Error + Send + Sync>;

fn corrupt(message: String) -> Failure {
    message.into()
}

impl SqliteWriter {
    fn run(mut self, jobs: Receiver<Job>) {
        // A job taken while gathering a group, to do after it.
        let mut next: Option<Job> = None;
        loop {
            let job = match next.take() {
                Some(job) => job,
                None => match self.sync_due {
                    None => match jobs.recv() {
                        Ok(job) => job,
                        Err(_) => break,
                    },
                    Some(due) => {
                        match jobs.recv_timeout(due.saturating_duration_since(Instant::now())) {
                            Ok(job) => job,
                            Err(RecvTimeoutError::Timeout) => {
                                self.sync();
                                continue;
                            }
                            Err(RecvTimeoutError::Disconnected) => break,
                        }
                    }
                },
            };
            match job {
                Job::Append(first) => {
                    let mut group = vec![first];
                    let mut count = group[0].entries.len();
                    while count < GROUP_LIMIT {
                        match jobs.try_recv() {
                            Ok(Job::Append(more)) => {
                                count += more.entries.len();
                                group.push(more);
                            }
                            Ok(other) => {
                                next = Some(other);
                                break;
                            }
                            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                        }
                    }
                    let outcome = self.guarded(|w| w.commit_group(&group));
                    if outcome.is_ok() && self.sync_due.is_none() {
                        self.sync_due = Some(Instant::now() + SYNC_WITHIN);
                    }
                    reply(group, outcome.map_err(|e| e.to_string()));
                }
                Job::Commit {
                    change,
                    audit,
                    at,
                    done,
                } => {
                    let outcome = self.guarded(|w| w.commit_change(&change, &audit, at));
                    if outcome.is_ok() {
                        // Nothing read before the change may be served from memory after it,
                        // even if whoever asked for it has gone: this connection's own commits
                        // do not move `data_version`.
                        self.cache.invalidate();
                        // Synced with it: everything committed before it is on disk too.
                        self.sync_due = None;
                    }
                    let _ = done.send(outcome.map_err(into_store_error));
                }
                Job::Close(done) => {
                    self.sync();
                    self.conn = None;
                    let _ = done.send(());
                }
            }
            if self.sync_due.is_some_and(|due| due <= Instant::now()) {
                self.sync();
            }
        }
        self.sync();
    }

    /// Syncs the log if read entries have been committed since the last sync.
    fn sync(&mut self) {
        if self.sync_due.take().is_none() {
            return;
        }
        if let Err(e) = sync_wal(&self.wal) {
            // The reads it covers have been answered and their entries stay committed; there is
            // no one else to tell. The next commit of a version syncs the log again.
            tracing::error!(
                wal = %self.wal.display(),
                error = %e,
                "the audit entries of recent reads could not be synced to disk"
            );
        }
    }

    /// Runs `commit`; if it fails, rolls back whatever it left open. A statement the database
    /// refused (a taken key: a conflict) leaves the connection fine; if the rollback fails too,
    /// the connection is dropped, which rolls back anything still open, and opened afresh next
    /// time.
    fn guarded<T>(
        &mut self,
        commit: impl FnOnce(&mut Self) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let outcome = commit(self);
        if outcome.is_err() {
            let rolled_back = self
                .conn
                .as_ref()
                .is_some_and(|conn| conn.execute_batch("ROLLBACK").is_ok());
            if !rolled_back {
                self.conn = None;
            }
        }
        outcome
    }

    /// Opens the connection if it is not open, with nothing yet known about it.
    fn open(&mut self) -> Result<(), Failure> {
        if self.conn.is_none() {
            self.data_version = None;
            self.full_sync = None;
            let conn = rusqlite::Connection::open(&self.db)?;
            conn.busy_timeout(Duration::from_secs(10))?;
            // Room for every statement of every kind of change, not rusqlite's default 16: a
            // statement pushed out is parsed again next time.
            conn.set_prepared_statement_cache_capacity(256);
            conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
            conn.execute_batch("PRAGMA foreign_keys = ON")?;
            // Group commits append a few pages each, thousands of times a second under load:
            // checkpoint (copy the log into the database, and sync both) every 16 MiB of log
            // rather than SQLite's 4 MiB, a quarter as often.
            conn.query_row("PRAGMA wal_autocheckpoint = 4000", [], |_| Ok(()))?;
            self.conn = Some(conn);
        }
        Ok(())
    }

    /// Sets whether commits on the (open) connection wait for the disk (`synchronous` FULL) or
    /// not (NORMAL), unless it already does: only a switch runs the PRAGMA.
    fn set_full_sync(&mut self, full: bool) -> Result<(), Failure> {
        if self.full_sync != Some(full) {
            let conn = self.conn.as_ref().expect("opened before");
            let pragma = if full {
                "PRAGMA synchronous = FULL"
            } else {
                "PRAGMA synchronous = NORMAL"
            };
            conn.prepare_cached(pragma)?.execute([])?;
            self.full_sync = Some(full);
        }
        Ok(())
    }

    /// Commits `change` and appends `audit` in one transaction, synced before it returns.
    fn commit_change(
        &mut self,
        change: &Script,
        audit: &[AuditEntry],
        at: Timestamp,
    ) -> Result<(), Failure> {
        self.open()?;
        // Synced before it returns, whatever the group commits last set.
        self.set_full_sync(true)?;
        let conn = self.conn.as_ref().expect("opened above");
        // Every statement prepared once per connection; on an error `guarded` rolls back.
        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        change.run_rusqlite(conn)?;
        let head = read_head(conn)?;
        append(conn, head, audit.iter(), &at.to_string())?;
        conn.prepare_cached("COMMIT")?.execute([])?;
        Ok(())
    }

    /// Commits the entries of the accesses in `group` that still hold, in one transaction, not
    /// yet synced; says which were accepted.
    fn commit_group(&mut self, group: &[Pending]) -> Result<Vec<bool>, Failure> {
        self.open()?;
        self.set_full_sync(false)?;
        let conn = self.conn.as_ref().expect("opened above");
        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        let version: i64 = conn
            .prepare_cached("SELECT data_version FROM pragma_data_version()")?
            .query_row([], |row| row.get(0))?;
        let head = read_head(conn)?;
        if self.data_version.replace(version) != Some(version) {
            self.cache.invalidate();
        }
        let accepted: Vec<bool> = group.iter().map(|p| self.cache.holds(p.epoch)).collect();
        let entries = group
            .iter()
            .zip(&accepted)
            .filter(|(_, ok)| **ok)
            .flat_map(|(p, _)| &p.entries);
        let at = Timestamp::from_datetime(OffsetDateTime::now_utc()).to_string();
        if append(conn, head, entries, &at)? == 0 {
            conn.prepare_cached("ROLLBACK")?.execute([])?;
        } else {
            conn.prepare_cached("COMMIT")?.execute([])?;
        }
        Ok(accepted)
    }
}

/// The end of the chain, read inside the write transaction, where nobody else can move it.
fn read_head(conn: &rusqlite::Connection) -> Result<ChainEnd, Failure> {
    let (seq, hash): (i64, String) = conn
        .prepare_cached("SELECT seq, hash FROM audit_head WHERE id = 1")?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?
        .ok_or_else(|| corrupt("the audit trail's head row is missing".into()))?;
    Ok(ChainEnd {
        seq: u64::try_from(seq)
            .map_err(|_| corrupt(format!("the audit trail's head is at entry {seq}")))?,
        hash,
    })
}

/// Appends `entries` after `head`, all recorded at `at`, and moves the stored head; says how
/// many were written (none: nothing was touched).
fn append<'a>(
    conn: &rusqlite::Connection,
    head: ChainEnd,
    entries: impl Iterator<Item = &'a AuditEntry>,
    at: &str,
) -> Result<usize, Failure> {
    let mut end = head;
    let mut written = 0;
    let mut insert = conn.prepare_cached(
        "INSERT INTO audit_log (seq, at, actor_id, actor_name, actor_role, action, outcome, \
         plan_id, person_id, version, detail, override_release, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    for entry in entries {
        let r = AuditRecord::from_entry(entry, end.seq + 1, at, end.hash.clone());
        insert.execute(params![
            i64::try_from(r.seq).map_err(|_| corrupt("the audit trail is full".into()))?,
            r.at,
            r.actor_id,
            r.actor_name,
            r.actor_role,
            r.action,
            r.outcome,
            r.plan_id,
            r.person_id,
            r.version,
            r.detail,
            r.override_release,
            r.prev_hash,
            r.hash,
        ])?;
        end = ChainEnd {
            seq: r.seq,
            hash: r.hash,
        };
        written += 1;
    }
    if written > 0 {
        conn.prepare_cached("UPDATE audit_head SET seq = ?1, hash = ?2 WHERE id = 1")?
            .execute(params![
                i64::try_from(end.seq).unwrap_or(i64::MAX),
                end.hash
            ])?;
    }
    Ok(written)
}

/// A failed commit as the store reports it. SQLite's own errors become sqlx database errors
/// with the same message and kind as sqlx would give, so callers read a taken version number or
/// NHS number the same way on both paths.
fn into_store_error(e: Failure) -> StoreError {
    match e.downcast::<rusqlite::Error>() {
        Ok(e) => StoreError::Database(sqlx::Error::Database(Box::new(SqliteFailure::from(*e)))),
        Err(other) => StoreError::Corrupt(other.to_string()),
    }
}

/// An error of SQLite's, reported through rusqlite.
#[derive(Debug)]
struct SqliteFailure {
    message: String,
    code: Option<i32>,
    source: rusqlite::Error,
}

impl From<rusqlite::Error> for SqliteFailure {
    fn from(source: rusqlite::Error) -> SqliteFailure {
        let (code, message) = match &source {
            rusqlite::Error::SqliteFailure(e, message) => (
                Some(e.extended_code),
                message.clone().unwrap_or_else(|| e.to_string()),
            ),
            other => (None, other.to_string()),
        };
        SqliteFailure {
            message,
            code,
            source,
        }
    }
}

impl std::fmt::Display for SqliteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqliteFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl sqlx::error::DatabaseError for SqliteFailure {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.code.map(|c| c.to_string().into())
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        use rusqlite::ffi;
        use sqlx::error::ErrorKind;
        match self.code {
            Some(ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => {
                ErrorKind::UniqueViolation
            }
            Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => ErrorKind::ForeignKeyViolation,
            Some(ffi::SQLITE_CONSTRAINT_NOTNULL) => ErrorKind::NotNullViolation,
            Some(ffi::SQLITE_CONSTRAINT_CHECK) => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}
